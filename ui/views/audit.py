"""The audit trail, read-only: who searched, exported, decided, held, purged, and when; and whether the chain holds.

Nothing here can change a row: the table does not edit, and the store refuses edits anyway.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.privacy import audit
from app.report.audit_rows import describe
from app.store import Database
from ui.views.common import plain_label

COLUMNS = ("Row", "When", "Who", "Action", "Details")


class AuditView(QWidget):
    """A filterable, read-only table of the store's audit rows, with the chain's verification."""

    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.who_edit = QLineEdit()
        self.who_edit.setPlaceholderText("any operator")
        self.action_combo = QComboBox()
        self.action_combo.addItems(["", *sorted(audit.ACTIONS)])
        self.refresh_button = QPushButton("Refresh")
        self.verify_button = QPushButton("Verify chain")
        self.status = plain_label("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        row = QHBoxLayout()
        row.addWidget(plain_label("Who:"))
        row.addWidget(self.who_edit)
        row.addWidget(plain_label("Action:"))
        row.addWidget(self.action_combo)
        row.addWidget(self.refresh_button)
        row.addWidget(self.verify_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        self.refresh_button.clicked.connect(self.refresh)
        self.verify_button.clicked.connect(self.verify)
        self.who_edit.returnPressed.connect(self.refresh)
        self.action_combo.currentTextChanged.connect(lambda _t: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Reload the rows that pass the filters."""
        rows = audit.list_rows(self.db, who=self.who_edit.text().strip() or None,
                               action=self.action_combo.currentText() or None)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = (str(r.id), r.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), r.who, r.action, describe(r))
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.status.setText(f"{len(rows)} row(s)")

    def verify(self) -> bool:
        """Check the hash chain and say whether it holds; returns it."""
        res = audit.verify(self.db)
        if res.ok:
            self.status.setText(f"Chain intact: {res.n_rows} rows, head {res.head_hash[:16]}…")
        else:
            self.status.setText("Chain NOT intact: " + "; ".join(res.problems[:3]))
            self.status.setStyleSheet("color: #c0392b;")
        return res.ok

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (what the operator sees)."""
        return [tuple(self.table.item(i, j).text() for j in range(len(COLUMNS))) for i in range(self.table.rowCount())]


class AuditDialog(QDialog):
    """:class:`AuditView` in a window of its own."""

    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Audit trail")
        self.resize(900, 500)
        self.view = AuditView(db, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
