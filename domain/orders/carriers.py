from enum import StrEnum


class Carrier(StrEnum):
    CHINA_MOBILE = "china_mobile"
    CHINA_UNICOM = "china_unicom"
    CHINA_TELECOM = "china_telecom"
    CHINA_BROADNET = "china_broadnet"


CARRIER_NAMES = {Carrier.CHINA_MOBILE: "China Mobile", Carrier.CHINA_UNICOM: "China Unicom",
                 Carrier.CHINA_TELECOM: "China Telecom", Carrier.CHINA_BROADNET: "China Broadnet"}


def carrier_name(carrier: str) -> str:
    """The name people use; an unknown code is shown as it is."""
    try:
        return CARRIER_NAMES[Carrier(carrier)]
    except ValueError:
        return carrier
