"""Lists of asset codes as configuration gives them ([usdt, " BTC "]): checked and normalized once (pure)."""


class NotAnAssetList(ValueError):
    """Not a list of non-empty strings."""


class NoAssets(ValueError):
    """An empty list where at least one asset is needed."""


def asset_codes(value, *, required: bool) -> list[str]:
    """The codes, stripped and upper-cased; NotAnAssetList or NoAssets (when `required`) otherwise."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise NotAnAssetList(value)
    if required and not value:
        raise NoAssets(value)
    return [v.strip().upper() for v in value]
