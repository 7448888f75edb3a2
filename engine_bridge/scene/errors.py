"""The error a bad scene file (or a bad scene name) raises: it names the file and the field path."""

from __future__ import annotations

from qwplugin.errors import InvalidArgument


class SceneError(InvalidArgument):
    """A scene file or scene name is invalid.

    The message reads ``"<file>: <field>: <what is wrong>"``, e.g.
    ``"scenes/yard.json: objects[2].material.texture: texture file not found: 'bark.png'"``.

    Attributes:
        file: the scene file as given (or the scene name), "" when not applicable.
        field: the field path inside the file, e.g. ``objects[2].material.texture`` ("" for the whole file).
        line, column: 1-based position of a JSON syntax error, else None.
        expected, actual: as in :class:`qwplugin.errors.InvalidArgument`.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        field: str = "",
        expected: str = "",
        actual: str = "",
        line: int | None = None,
        column: int | None = None,
    ):
        where = ": ".join(p for p in (str(file), field) if p)
        super().__init__(
            f"{where}: {message}" if where else message, field=field, expected=expected, actual=actual
        )
        self.file = str(file)
        self.line = line
        self.column = column
