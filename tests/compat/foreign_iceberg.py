"""An Iceberg table written by another Iceberg writer (pyiceberg), outside any data home: the
source of the external-table-from-metadata tests of the CLI and of the SDK."""


def write_iceberg_with_pyiceberg(directory, data):
    """An Iceberg table written by pyiceberg into `directory` (outside any data home), through
    the smallest catalog pyiceberg accepts; returns its metadata.json path."""
    from pyiceberg.catalog import MetastoreCatalog
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
    from pyiceberg.serializers import FromInputFile
    from pyiceberg.table import CommitTableResponse, Table
    from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

    class DirectoryCatalog(MetastoreCatalog):
        def __init__(self):
            super().__init__("dir")
            self.locations = {}

        def create_table(
            self,
            identifier,
            schema,
            location=None,
            partition_spec=UNPARTITIONED_PARTITION_SPEC,
            sort_order=UNSORTED_SORT_ORDER,
            properties={},  # noqa: B006  (pyiceberg's own signature)
        ):
            staged = self._create_staged_table(
                identifier, schema, location, partition_spec, sort_order, properties
            )
            self._write_metadata(staged.metadata, staged.io, staged.metadata_location)
            self.locations[identifier] = staged.metadata_location
            return self.load_table(identifier)

        def load_table(self, identifier):
            location = self.locations[tuple(identifier)]
            io = self._load_file_io(location=location)
            return Table(
                identifier=identifier,
                metadata=FromInputFile.table_metadata(io.new_input(location)),
                metadata_location=location,
                io=io,
                catalog=self,
            )

        def commit_table(self, table, requirements, updates):
            staged = self._update_and_stage_table(
                self.load_table(table.name()), table.name(), requirements, updates
            )
            self._write_metadata(staged.metadata, staged.io, staged.metadata_location)
            self.locations[tuple(table.name())] = staged.metadata_location
            return CommitTableResponse(metadata=staged.metadata, metadata_location=staged.metadata_location)

        def _get_default_warehouse_location(self, database_name, table_name):
            return f"file://{directory}/{table_name}"

        def _unused(self, *args, **kwargs):
            raise NotImplementedError

        (
            create_namespace,
            drop_namespace,
            list_namespaces,
            list_tables,
            list_views,
            drop_table,
            drop_view,
            purge_table,
            rename_table,
            register_table,
            table_exists,
            view_exists,
            load_view,
            register_view,
            update_namespace_properties,
            load_namespace_properties,
            create_table_transaction,
        ) = (_unused,) * 17

    catalog = DirectoryCatalog()
    table = catalog.create_table(("ext", "trips"), schema=data.schema)
    table.append(data)
    return catalog.locations[("ext", "trips")].removeprefix("file://")
