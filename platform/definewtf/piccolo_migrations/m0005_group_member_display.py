from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T18:02:40:914226"
VERSION = "1.38.0"
DESCRIPTION = "group_member.display: the member display a client sent"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="definewtf", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="GroupMember",
        tablename="group_member",
        column_name="display",
        db_column_name="display",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
