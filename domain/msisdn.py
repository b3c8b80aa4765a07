"""Mainland mobile numbers (MSISDN) as every business shows and compares them: masked for people,
fingerprinted for workflows, so no full phone number enters a history, a log or a search attribute."""

import hashlib


def msisdn_fingerprint(msisdn: str) -> str:
    """Workflows compare numbers by fingerprint so no full phone number enters a history."""
    return hashlib.sha256(msisdn.strip().encode()).hexdigest()[:16]


def mask_msisdn(msisdn: str) -> str:
    m = msisdn.strip()
    return m[:3] + "****" + m[-4:] if len(m) >= 8 else "****"
