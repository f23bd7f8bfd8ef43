"""The service layer: one module per aggregate.

Every function is keyword-only, tenant-first and transport-free: it takes ids, plain data
and the acting principal, returns records (frozen dataclasses), and raises `definewtf.errors`.
Writes happen inside `definewtf.db.write_transaction()`, owned by the service function.
"""
