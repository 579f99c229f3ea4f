"""The add-camera dialog: a name and a stream URL whose credentials are hidden as soon as it is entered.

While the operator types, the URL field shows what they type; when they leave the field it shows the URL
redacted (``rtsp://***@host:554/stream``) and the real text is kept in the dialog only, until it is handed
to ``submit``. Clicking back into the field brings the real text back for editing. Whatever ``submit`` raises
as a :class:`~app.errors.UserError` (an unusable URL, a name already taken) is shown in the dialog, which
stays open; its messages are already redacted.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget

from app.errors import UserError
from app.live.redact import redact_text, redact_url
from ui.views.common import plain_label

SubmitFn = Callable[[str, str], object]
HINT = ("rtsp://user:password@host:554/stream, http(s)://…, a video file, a device number, or env:VARIABLE "
        "to read the URL from an environment variable")


class AddCameraDialog(QDialog):
    """Asks for a camera's name and URL and hands them to ``submit(name, url)``; closes when that succeeds."""

    def __init__(self, parent: QWidget | None = None, *, submit: SubmitFn) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add camera")
        self._submit = submit
        self._url = ""  # the URL as typed (may hold a password); the field may show it redacted
        self._masked = False
        self._showing = False  # True while this dialog itself changes the URL field's text
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. lobby")
        self.name_edit.setMaxLength(64)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("rtsp://user:password@192.168.1.20:554/stream1")
        self.url_edit.setMinimumWidth(420)
        self.url_edit.setToolTip(HINT)
        self.url_edit.installEventFilter(self)
        self.hint_label = plain_label(HINT)
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("QLabel { color: #888; }")
        self.error_label = plain_label()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel { color: #d33; }")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add camera")
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("URL:", self.url_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.url_edit.textChanged.connect(self._on_url_changed)
        self.url_edit.editingFinished.connect(self.mask_url)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def url(self) -> str:
        """The URL as entered (credentials included)."""
        return self._url

    @property
    def masked(self) -> bool:
        """True while the field shows the redacted URL instead of what was typed."""
        return self._masked

    def _on_url_changed(self, text: str) -> None:
        if not self._showing:  # typed, pasted or set by a caller: that is the URL now
            self._url, self._masked = text, False

    def _show_url(self, text: str, *, masked: bool) -> None:
        self._showing = True
        try:
            self.url_edit.setText(text)
        finally:
            self._showing = False
        self._masked = masked

    def mask_url(self) -> None:
        """Show the entered URL redacted (called when the operator leaves the field)."""
        if self._masked:
            return
        shown = redact_url(self._url.strip())
        if shown != self._url.strip():
            self._show_url(shown, masked=True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.url_edit and event.type() == QEvent.Type.FocusIn and self._masked:
            self._show_url(self._url, masked=False)  # editing again: the operator sees what they typed
        return super().eventFilter(watched, event)

    def try_accept(self) -> None:
        """Submit the camera; stay open with the reason when it is refused."""
        self.mask_url()
        name = self.name_edit.text().strip()
        if not name:
            self._show_error("Give the camera a name.")
            return
        if not self._url.strip():
            self._show_error("Enter the camera's URL.")
            return
        try:
            self._submit(name, self._url.strip())
        except UserError as exc:
            self._show_error(redact_text(str(exc)))  # already redacted; fail closed all the same
            return
        self.url_edit.clear()  # the secret now lives in the controller only
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
