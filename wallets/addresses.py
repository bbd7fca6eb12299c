"""EVM address validation and EIP-55 checksum normalization (pure, no Django)."""

import re

from Crypto.Hash import keccak

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class InvalidAddress(ValueError):
    pass


def to_checksum_address(address: str) -> str:
    """Return the EIP-55 form of `address`.

    Accepts all-lowercase or all-uppercase hex, or an already checksummed
    mixed-case address; refuses a mixed-case address whose checksum is wrong
    (almost always a typo).
    """
    text = (address or "").strip()
    if not _HEX_ADDRESS.match(text):
        raise InvalidAddress(f"{address!r} is not an address: expected 0x followed by 40 hex digits.")
    body = text[2:]
    digest = keccak.new(digest_bits=256, data=body.lower().encode("ascii")).hexdigest()
    checksummed = "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch.lower() for i, ch in enumerate(body.lower())
    )
    mixed_case = body != body.lower() and body != body.upper()
    if mixed_case and text != checksummed:
        raise InvalidAddress(f"{address} has a wrong EIP-55 checksum (a typo?); expected {checksummed}.")
    return checksummed
