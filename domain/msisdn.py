"""Mainland mobile numbers (MSISDN) as every business shows them: masked for people. Workflows and lookups
compare numbers by a keyed fingerprint (`core.crypto.fingerprint`, HMAC with a secret), never a bare hash:
first 3 + last 4 digits leave only 10^4 candidates, so an unkeyed hash beside the mask gives the number away."""

import re


def mask_msisdn(msisdn: str) -> str:
    m = msisdn.strip()
    return m[:3] + "****" + m[-4:] if len(m) >= 8 else "****"


# A mainland mobile number: 11 digits, 13x-19x (the carriers' allocated ranges; 10x-12x are not mobile numbers).
MOBILE_PATTERN = r"^1[3-9]\d{9}$"
_MOBILE = re.compile(MOBILE_PATTERN)


def is_mobile(msisdn: str) -> bool:
    return bool(_MOBILE.match(msisdn))
