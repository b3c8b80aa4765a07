"""A customer of an order as clients send it: a valid identity card number (GB 11643 check digit), a mobile
number, an address. Shared by the demo, the benchmark and the tests (a made-up person: the check digit is real)."""

from domain.orders.customer import id_check_character


def id_number(first17: str = "11010519900307123") -> str:
    return first17 + id_check_character(first17)


RECIPIENT = {"name": "张三", "phone": "13912340000",
             "address": {"province": "上海市", "city": "上海市", "district": "闵行区", "street": "莘庄镇莘松路 100 号 3 栋 502"}}
REAL_NAME = {"name": "张三", "id_number": id_number()}
CUSTOMER = {"recipient": RECIPIENT, "real_name": REAL_NAME}
