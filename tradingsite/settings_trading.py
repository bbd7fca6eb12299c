"""The trading apps' settings (venues, feeds, orders, cycles, positions, wallets), from the environment.

The second half of tradingsite/settings.py, which reads the platform's settings first and then these.
"""

from decimal import Decimal
from pathlib import Path

from .settings import SHARED_DATA_DIR, env

# --- Paper venue ----------------------------------------------------------------
PAPER_EXCHANGE_INFO = Path(
    env.str("PAPER_EXCHANGE_INFO", default=str(SHARED_DATA_DIR / "binance" / "exchange_info_2020-10-09.json"))
)
PAPER_TICKERS = Path(env.str("PAPER_TICKERS", default=str(SHARED_DATA_DIR / "binance" / "ticker_24hr_2020-10-09.json")))
PAPER_DEPTH_PROFILE = Path(
    env.str("PAPER_DEPTH_PROFILE", default=str(SHARED_DATA_DIR / "binance" / "depth" / "btcusdt_20240808.gz"))
)
SIMULATOR_MISPRICING_RATE = env.float("SIMULATOR_MISPRICING_RATE", default=2.0)  # a minute, on the paper venue
PAPER_BOOK_MAX_AGE_MS = env.int("PAPER_BOOK_MAX_AGE_MS", default=5000)
PAPER_FAULTS_CACHE_S = env.float("PAPER_FAULTS_CACHE_S", default=1.0)
PAPER_STARTING_BALANCES = env.dict("PAPER_STARTING_BALANCES", default={"USDT": "10000"})
# Paper accounts that trade on another's simulated market (its simulator's prices and books), as two accounts on one
# exchange share its market data: account -> the account whose simulator writes them. The demo's portfolio account
# trades on the demo exchange's market.
PAPER_MARKET_DATA_FROM = env.dict("PAPER_MARKET_DATA_FROM", default={"paper-portfolio": "paper"})

# --- Market-data feeds (run_feed) ---------------------------------------------------
# A real venue's book is read from the feed's snapshot while it is this fresh, else asked for over REST.
FEED_BOOK_MAX_AGE_MS = env.int("FEED_BOOK_MAX_AGE_MS", default=2000)
# While an account's user-data stream pushes its fills, its orders are polled only this often (a safety net);
# the stream's liveness key lasts this long without a refresh (a dead stream process is noticed by then).
USER_STREAM_SAFETY_POLL_MS = env.int("USER_STREAM_SAFETY_POLL_MS", default=30_000)
USER_STREAM_ALIVE_TTL_S = env.int("USER_STREAM_ALIVE_TTL_S", default=5)

# --- Venue guards (shared by every process through Redis) ---------------------
VENUE_RATE_CAPACITY = env.float("VENUE_RATE_CAPACITY", default=6000.0)  # request weight a minute
VENUE_BREAKER_THRESHOLD = env.int("VENUE_BREAKER_THRESHOLD", default=5)
VENUE_BREAKER_COOLDOWN_S = env.float("VENUE_BREAKER_COOLDOWN_S", default=30.0)
VENUE_CONNECT_TIMEOUT_S = env.float("VENUE_CONNECT_TIMEOUT_S", default=8.0)
VENUE_READ_TIMEOUT_S = env.float("VENUE_READ_TIMEOUT_S", default=18.0)
VENUE_POOL_SIZE = env.int("VENUE_POOL_SIZE", default=10)
# A process reuses its venue object (session, loaded markets) this long before rebuilding it.
VENUE_INSTANCE_TTL_S = env.float("VENUE_INSTANCE_TTL_S", default=60.0)

# --- Orders -------------------------------------------------------------------
# Client order ids are "<prefix>-<intent>-a<attempt>"; give each deployment
# sharing a venue account its own prefix.
ORDER_CLIENT_ID_PREFIX = env.str("ORDER_CLIENT_ID_PREFIX", default="ts")
# An UNKNOWN order is declared "not placed" only after this many lookups found
# nothing and this long after submission: longer than the venue's receive
# window (Binance refuses requests older than recvWindow, 5 s by default).
ORDER_UNKNOWN_MIN_MISSES = env.int("ORDER_UNKNOWN_MIN_MISSES", default=3)
ORDER_UNKNOWN_GRACE_S = env.float("ORDER_UNKNOWN_GRACE_S", default=10.0)
# A PENDING_SUBMIT row this old lost its placing worker mid-call: it becomes UNKNOWN.
ORDER_SUBMIT_STALE_S = env.float("ORDER_SUBMIT_STALE_S", default=VENUE_CONNECT_TIMEOUT_S + VENUE_READ_TIMEOUT_S + 4)
# Orders claimed by a monitor tick are leased this long; a tick that dies is retried by the sweeper after it.
ORDER_MONITOR_LEASE_S = env.float("ORDER_MONITOR_LEASE_S", default=30.0)
# The sweeper re-dispatches orders whose check is this much overdue (their task was lost).
ORDER_SWEEP_GRACE_S = env.float("ORDER_SWEEP_GRACE_S", default=2.0)

# --- Write-behind buffer ----------------------------------------------------------
WRITEBEHIND_FLUSH_S = env.float("WRITEBEHIND_FLUSH_S", default=1.0)


# --- Cycles and panic sells ----------------------------------------------------
# The scanner places a new cycle's first leg itself, sized from the books it walked (no queue hop, no second read);
# the worker takes the legs after it. Off: the worker places leg 1 too (bench/run.py cycles --parts tick compares:
# on two cores, tick to leg 1 p50 29 / p99 67 ms placing here, 64 / 196 ms through the worker).
SCANNER_PLACES_FIRST_LEG = env.bool("SCANNER_PLACES_FIRST_LEG", default=True)
# A buy leg is sized this far under what we hold, so a small move between sizing and filling still fits.
CYCLE_BUY_BUFFER_BPS = env.int("CYCLE_BUY_BUFFER_BPS", default=10)
CYCLE_LEG_MAX_ATTEMPTS = env.int("CYCLE_LEG_MAX_ATTEMPTS", default=3)  # a partly filled leg places its rest again
# Recovery (cycles/recovery.py): a cycle not started this long after it was opened is canceled, not resumed;
# the beat sweep treats an open cycle with no live order as interrupted once it has not moved for RECOVERY_STALL_S.
CYCLE_RESUME_MAX_AGE_S = env.float("CYCLE_RESUME_MAX_AGE_S", default=30.0)
RECOVERY_STALL_S = env.float("RECOVERY_STALL_S", default=20.0)
RECOVERY_SWEEP_S = env.float("RECOVERY_SWEEP_S", default=15.0)

# --- Positions (positions/rules.py Tiers): check intervals by urgency, and what makes a position urgent -------
POSITION_TIERS = {
    "critical_s": env.float("POSITION_TIER_CRITICAL_S", default=2.0),
    "active_s": env.float("POSITION_TIER_ACTIVE_S", default=5.0),
    "standard_s": env.float("POSITION_TIER_STANDARD_S", default=12.0),
    "inactive_s": env.float("POSITION_TIER_INACTIVE_S", default=30.0),
    "idle_s": env.float("POSITION_TIER_IDLE_S", default=60.0),
    "near_trigger_bps": env.float("POSITION_NEAR_TRIGGER_BPS", default=50.0),
    "breakeven_critical_s": env.float("POSITION_BREAKEVEN_CRITICAL_S", default=60.0),
    "inactive_closed_fraction": env.float("POSITION_INACTIVE_CLOSED_FRACTION", default=0.9),
    "idle_after_s": env.float("POSITION_IDLE_AFTER_S", default=600.0),
}
# API read cache (tradingsite/apicache.py): seconds an answer of each kind may be served from Redis.
API_CACHE_TTLS = {
    "account": env.int("API_CACHE_ACCOUNT_S", default=60),
    "positions": env.int("API_CACHE_POSITIONS_S", default=15),
    "orders": env.int("API_CACHE_ORDERS_S", default=15),
    "stats": env.int("API_CACHE_STATS_S", default=300),
    "market_data": env.int("API_CACHE_MARKET_DATA_S", default=180),
}
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=1000)
API_MAX_OFFSET = env.int("API_MAX_OFFSET", default=10_000_000)
API_CACHE_MAX_KEYS = env.int("API_CACHE_MAX_KEYS", default=2000)  # answers one kind keeps at most
# --- Wallets (copy trading) --------------------------------------------------------------
WALLET_SOURCES_PORT = env.int("WALLET_SOURCES_PORT", default=8765)  # the demo's simulated sources
WALLET_TRADE_EVERY_S = env.float("WALLET_TRADE_EVERY_S", default=30.0)  # the demo: mean seconds between fills
# The copy demo on the CLOB V2 emulator (COPY_DEMO_VENUE=clob make run): the pUSD its account starts with.
WALLET_CLOB_DEMO_PUSD = Decimal(env.str("WALLET_CLOB_DEMO_PUSD", default="10000"))
POLYMARKET_DATA_API_URL = env.str("POLYMARKET_DATA_API_URL", default="https://data-api.polymarket.com")
ETHERSCAN_API_URL = env.str("ETHERSCAN_API_URL", default="https://api.etherscan.io/v2/api")
ETHERSCAN_API_KEY = env.str("ETHERSCAN_API_KEY", default="")
ETHERSCAN_CHAIN_ID = env.int("ETHERSCAN_CHAIN_ID", default=137)  # Polygon
WALLET_SOURCE_RATE_PER_S = {
    "polymarket": env.float("POLYMARKET_RATE_PER_S", default=5.0),
    "etherscan": env.float("ETHERSCAN_RATE_PER_S", default=3.0),  # the free tier's 3 calls a second
}
# One scan reads at most this many pages and bytes; a wallet with more waiting goes on from there next scan.
WALLET_SCAN_MAX_PAGES = env.int("WALLET_SCAN_MAX_PAGES", default=40)
WALLET_SCAN_MAX_BYTES = env.int("WALLET_SCAN_MAX_BYTES", default=16 * 1024 * 1024)
WALLET_SOURCE_RETRY_AFTER_CAP_S = env.float("WALLET_SOURCE_RETRY_AFTER_CAP_S", default=300.0)
POLYMARKET_OVERLAP_S = env.int("POLYMARKET_OVERLAP_S", default=60)  # re-read for indexer lag
ETHERSCAN_OVERLAP_BLOCKS = env.int("ETHERSCAN_OVERLAP_BLOCKS", default=30)  # re-read for reorgs and lag
POLYMARKET_TOKEN_DECIMALS = 6  # outcome tokens and USDC both have 6 decimals
POLYGON_USDC_CONTRACTS = env.list("POLYGON_USDC_CONTRACTS", default=[
    "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",  # USDC.e, Polymarket's collateral until CLOB V2
    "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",  # native USDC
])  # fmt: skip
# CLOB V2 went live on 2026-04-28 (docs.polymarket.com/v2-migration; the cutover was announced for about 11:00 UTC
# with an hour of downtime): fills from then on settle in pUSD (6 decimals), before it in USDC.e or native USDC.
# The wallet stream (manage.py run_wallet_stream): a Polygon node's websocket (empty: no stream, polling only).
POLYGON_WS_URL = env.str("POLYGON_WS_URL", default="")
WALLET_STREAM_REFRESH_S = env.float("WALLET_STREAM_REFRESH_S", default=5.0)  # the watched set is re-read this often
WALLET_STREAM_CALL_TIMEOUT_S = env.float("WALLET_STREAM_CALL_TIMEOUT_S", default=10.0)
POLYGON_PUSD_CONTRACT = env.str("POLYGON_PUSD_CONTRACT", default="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB")
POLYMARKET_V2_CUTOVER_TS = env.int("POLYMARKET_V2_CUTOVER_TS", default=1777374000)  # 2026-04-28T11:00:00Z
# Scan intervals by activity: a wallet that traded within WALLET_ACTIVE_WINDOW_S is active, within
# WALLET_QUIET_WINDOW_S quiet, otherwise idle.
WALLET_SCAN_ACTIVE_S = env.float("WALLET_SCAN_ACTIVE_S", default=1.0)
WALLET_SCAN_QUIET_S = env.float("WALLET_SCAN_QUIET_S", default=15.0)
WALLET_SCAN_IDLE_S = env.float("WALLET_SCAN_IDLE_S", default=60.0)
WALLET_ACTIVE_WINDOW_S = env.float("WALLET_ACTIVE_WINDOW_S", default=600.0)
WALLET_QUIET_WINDOW_S = env.float("WALLET_QUIET_WINDOW_S", default=86400.0)
WALLET_TICK_S = env.float("WALLET_TICK_S", default=0.5)  # how often beat claims due wallets
WALLET_SCAN_BATCH = env.int("WALLET_SCAN_BATCH", default=25)  # wallets one tick claims and scans
WALLET_SCAN_LEASE_S = env.float("WALLET_SCAN_LEASE_S", default=60.0)  # a claimed wallet is not claimed again meanwhile
WALLET_MARKET_CACHE_SIZE = env.int("WALLET_MARKET_CACHE_SIZE", default=4096)  # market metadata lookups kept (LRU)
WALLET_MARKET_CACHE_TTL_S = env.float("WALLET_MARKET_CACHE_TTL_S", default=300.0)
COPY_CONCURRENCY = env.int("COPY_CONCURRENCY", default=10)  # copies being placed at once, across all workers
COPY_SLOT_LEASE_S = env.float("COPY_SLOT_LEASE_S", default=60.0)  # a slot a dead worker held frees itself after this
COPY_MAX_AGE_S = env.float("COPY_MAX_AGE_S", default=300.0)  # a fill detected later than this is not copied
COPY_PENDING_RETRY_S = env.float("COPY_PENDING_RETRY_S", default=30.0)  # a copy still pending is sent again after this

# The asset the dashboard and /api/accounts/ value balances in (direct market, or through one intermediate).
DASHBOARD_VALUATION_ASSET = env.str("DASHBOARD_VALUATION_ASSET", default="USDT")
# The equity chart: beat values every enabled account this often and keeps this many days of snapshots.
DASHBOARD_EQUITY_SNAPSHOT_S = env.float("DASHBOARD_EQUITY_SNAPSHOT_S", default=300.0)
DASHBOARD_EQUITY_RETENTION_DAYS = env.int("DASHBOARD_EQUITY_RETENTION_DAYS", default=90)
# How often the dashboard's charts and tables ask for fresh data (within the API cache TTLs they are read through).
DASHBOARD_REFRESH_S = env.int("DASHBOARD_REFRESH_S", default=15)
POSITION_TICK_S = env.float("POSITION_TICK_S", default=1.0)  # how often beat claims due positions
POSITION_LEASE_S = env.float("POSITION_LEASE_S", default=15.0)  # a claimed position is not claimed again meanwhile
# How often beat asks the venues whether the prediction markets open positions hold have resolved.
POSITION_RESOLUTION_CHECK_S = env.float("POSITION_RESOLUTION_CHECK_S", default=60.0)
POSITION_EVENT_FLUSH_S = env.float("POSITION_EVENT_FLUSH_S", default=30.0)  # non-critical events, at the latest
PANIC_BASE_CURRENCIES = env.list("PANIC_BASE_CURRENCIES", default=["USDT", "USDC"])  # a balance sell's default
PANIC_MAX_HOPS = env.int("PANIC_MAX_HOPS", default=4)
PANIC_MAX_SLIPPAGE_BPS = env.int("PANIC_MAX_SLIPPAGE_BPS", default=250)
# In volatile markets the slippage tolerance widens by K bps per bp of the held asset's median spread, up to the cap.
PANIC_VOLATILITY_K = env.float("PANIC_VOLATILITY_K", default=2.0)
PANIC_SLIPPAGE_CAP_BPS = env.float("PANIC_SLIPPAGE_CAP_BPS", default=1000.0)
PANIC_MAX_FAILED_HOPS = env.int("PANIC_MAX_FAILED_HOPS", default=5)

# --- Analytics ----------------------------------------------------------------------
# Candle writers (the simulator, run_feed) write closed candles and the open ones this often.
ANALYTICS_CANDLE_FLUSH_S = env.float("ANALYTICS_CANDLE_FLUSH_S", default=2.0)
# Days each timeframe's candles are kept (0: for good); beat's analytics.prune_candles deletes the older ones.
ANALYTICS_CANDLE_RETENTION_DAYS = {
    "1m": env.int("ANALYTICS_RETAIN_1M_DAYS", default=7),
    "5m": env.int("ANALYTICS_RETAIN_5M_DAYS", default=30),
    "15m": env.int("ANALYTICS_RETAIN_15M_DAYS", default=90),
    "1h": env.int("ANALYTICS_RETAIN_1H_DAYS", default=365),
    "4h": env.int("ANALYTICS_RETAIN_4H_DAYS", default=0),
    "1d": env.int("ANALYTICS_RETAIN_1D_DAYS", default=0),
}
# Markets charted (and candled) on every account besides those it holds or trades: the risk benchmark among them.
ANALYTICS_CHART_SYMBOLS = env.list("ANALYTICS_CHART_SYMBOLS", default=["BTCUSDT", "ETHUSDT"])
# Risk: beat recomputes every enabled account's (and its strategies' and copied wallets') figures this often, over
# this many minutes of one-minute candles, beta against this asset; reports are kept this many days.
ANALYTICS_RISK_S = env.float("ANALYTICS_RISK_S", default=300.0)
ANALYTICS_RISK_WINDOW_MIN = env.int("ANALYTICS_RISK_WINDOW_MIN", default=1440)
ANALYTICS_RISK_BENCHMARK = env.str("ANALYTICS_RISK_BENCHMARK", default="BTC")
ANALYTICS_RISK_RETENTION_DAYS = env.int("ANALYTICS_RISK_RETENTION_DAYS", default=7)

# --- Rebalancing ----------------------------------------------------------------------
# A planned rebalance may be executed this long after it was planned; after that the prices are too old: plan again.
REBALANCE_PLAN_TTL_S = env.float("REBALANCE_PLAN_TTL_S", default=300.0)
# While a trade's orders work, the rebalance looks again this often; beat's sweep advances one nobody has
# advanced for REBALANCE_STALL_S (its chained task lost with a worker).
REBALANCE_POLL_S = env.float("REBALANCE_POLL_S", default=1.0)
REBALANCE_STALL_S = env.float("REBALANCE_STALL_S", default=15.0)
# Targets marked `auto` are checked this often, and rebalanced when a weight has drifted out of tolerance.
REBALANCE_AUTO_S = env.float("REBALANCE_AUTO_S", default=60.0)
