"""Copy trading: watched wallets, their detected trades and our copies of them."""
