"""define.wtf identity platform: the core (tables, services, security, app factory, CLI)."""
