"""The customer an order is for: the recipient the courier delivers to and the real-name data the carrier checks
(every number sold in mainland China is registered to an identity card). Pure validation; storage seals it
(db/fulfilment.py), answers mask it (`masked_*`), workflows never carry it.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, Field, field_validator

from domain.msisdn import MOBILE_PATTERN, mask_msisdn

# GB 11643-1999: 17 digits (6 of region, 8 of birth date, 3 of sequence) and an ISO 7064 MOD 11-2 check character.
_ID = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # the check character for sum mod 11 = 0, 1, ..., 10
# Names as an identity card prints them: Chinese characters (with the middle dot of minority names) or Latin
# letters for foreigners' permits; no digits, no symbols.
_NAME = re.compile(r"^[\u4e00-\u9fff\u3400-\u4dbf·•]{2,20}$|^[A-Za-z][A-Za-z .'-]{1,59}$")


def id_check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why an identity-card number is not a valid one (GB 11643), or None."""
    v = value.strip().upper()
    if not _ID.match(v):
        return "an identity card number has 17 digits and a check digit or X"
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "the birth date in the identity card number is not a date"
    if not 1900 <= born.year <= 2100:
        return "the birth date in the identity card number is out of range"
    if id_check_character(v[:17]) != v[17]:
        return "the identity card number's check digit is wrong"
    return None


def mask_id_number(value: str) -> str:
    """First 3 and last 2 characters, as carriers print them on receipts."""
    v = value.strip()
    return v[:3] + "*" * max(len(v) - 5, 0) + v[-2:] if len(v) > 5 else "*" * len(v)


def mask_name(name: str) -> str:
    """张三丰 -> 张**; the family name stays so the courier's call can be confirmed."""
    n = name.strip()
    return n[:1] + "*" * max(len(n) - 1, 1) if n else ""


class Address(BaseModel):
    """A delivery address in the fields couriers need; the province also decides the carrier's coverage."""

    province: str = Field(min_length=2, max_length=20)
    city: str = Field(min_length=2, max_length=30)
    district: str = Field(min_length=1, max_length=30)
    street: str = Field(min_length=4, max_length=200, description="street, number, building, room")
    postcode: str | None = Field(default=None, pattern=r"^\d{6}$")

    @field_validator("province", "city", "district", "street")
    @classmethod
    def _printable(cls, v: str) -> str:
        v = v.strip()
        if any(not c.isprintable() for c in v):
            raise ValueError("must be printable text")
        return v

    def masked(self) -> Address:
        return self.model_copy(update={"street": "****"})


class Recipient(BaseModel):
    name: str = Field(min_length=2, max_length=60)
    phone: str = Field(pattern=MOBILE_PATTERN, description="mainland mobile number the courier calls")
    address: Address

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not _NAME.match(v):
            raise ValueError("a name in Chinese characters (2-20) or Latin letters")
        return v

    def masked(self) -> Recipient:
        return Recipient.model_construct(name=mask_name(self.name), phone=mask_msisdn(self.phone),
                                         address=self.address.masked())


class RealName(BaseModel):
    """The holder of the number as the carrier registers it (real-name registration)."""

    name: str = Field(min_length=2, max_length=60)
    id_number: str = Field(min_length=18, max_length=18, description="18-character resident identity card number")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not _NAME.match(v):
            raise ValueError("a name in Chinese characters (2-20) or Latin letters")
        return v

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str) -> str:
        problem = id_number_problem(v)
        if problem:
            raise ValueError(problem)
        return v.strip().upper()

    def masked(self) -> RealName:
        return RealName.model_construct(name=mask_name(self.name), id_number=mask_id_number(self.id_number))


class Customer(BaseModel):
    recipient: Recipient
    real_name: RealName

    def masked(self) -> Customer:
        return Customer.model_construct(recipient=self.recipient.masked(), real_name=self.real_name.masked())
