"""EIP-55 checksum normalization, against the vectors published with EIP-55."""

import pytest

from wallets.addresses import InvalidAddress, to_checksum_address

EIP55_VECTORS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_lower_and_upper_case_normalize_to_the_checksum(address):
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address("0x" + address[2:].upper()) == address
    assert to_checksum_address(f"  {address}  ") == address


def test_mixed_case_with_a_wrong_checksum_is_refused():
    typo = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    with pytest.raises(InvalidAddress, match="checksum"):
        to_checksum_address(typo)


@pytest.mark.parametrize("bad", ["", "0x", "0x12", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x" + "g" * 40])
def test_malformed_addresses_are_refused(bad):
    with pytest.raises(InvalidAddress, match="40 hex digits"):
        to_checksum_address(bad)
