"""Database models, migrations, repositories, the key store and the audit log."""

# The audit log, outbox and quarantine are used through their modules (`audit.append`,
# `outbox.claim`, `quarantine.add_quarantined`): their verbs are short and would collide here.
from storage import audit, cursors, orders, outbox, quarantine
from storage.audit import VerifyResult
from storage.call_budget import SqlCallBudget
from storage.cursors import Cursor, get_cursor, save_cursor
from storage.db import checkpoint_wal, create_engine, is_sqlite, session_factory, write_session
from storage.errors import MigrationError, NaiveDatetimeError, OrderShreddedError, StorageError
from storage.keystore_models import BucketKey, IndexKey, KeystoreBase, RootRotation
from storage.migrate import current_revision, head_revision, same_database, upgrade, upgrade_all
from storage.models import (
    AuditEvent,
    BlindIndexEntry,
    DataBase,
    Delivery,
    Order,
    QuarantineEntry,
    RateBucket,
    SyncCursor,
)
from storage.orders import (
    OrderRecord,
    OrderState,
    UpsertResult,
    find_order_ids_by_blind_index,
    get_order,
    iter_orders_by_bucket,
    mark_shredded,
    order_state,
    order_states,
    rewrap_order,
    shred_bucket,
    upsert_order,
    upsert_orders,
)
from storage.outbox import ClaimedDelivery, delivery_idempotency_key
from storage.quarantine import QuarantinedPayload
from storage.rate_buckets import SqlBuckets
from storage.sqltypes import UtcDateTime, ensure_utc

__all__ = [
    "AuditEvent",
    "BlindIndexEntry",
    "BucketKey",
    "ClaimedDelivery",
    "Cursor",
    "DataBase",
    "Delivery",
    "IndexKey",
    "KeystoreBase",
    "MigrationError",
    "NaiveDatetimeError",
    "Order",
    "OrderRecord",
    "OrderShreddedError",
    "OrderState",
    "QuarantineEntry",
    "QuarantinedPayload",
    "RateBucket",
    "RootRotation",
    "SqlBuckets",
    "SqlCallBudget",
    "StorageError",
    "SyncCursor",
    "UpsertResult",
    "UtcDateTime",
    "VerifyResult",
    "audit",
    "checkpoint_wal",
    "create_engine",
    "current_revision",
    "cursors",
    "delivery_idempotency_key",
    "ensure_utc",
    "find_order_ids_by_blind_index",
    "get_cursor",
    "get_order",
    "head_revision",
    "is_sqlite",
    "iter_orders_by_bucket",
    "mark_shredded",
    "order_state",
    "order_states",
    "orders",
    "outbox",
    "quarantine",
    "rewrap_order",
    "same_database",
    "save_cursor",
    "session_factory",
    "shred_bucket",
    "upgrade",
    "upgrade_all",
    "upsert_order",
    "upsert_orders",
    "write_session",
]
