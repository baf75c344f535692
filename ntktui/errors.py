"""Front-end input errors. The CLI prints them as one line on stderr and exits with code 2."""


class UserError(ValueError):
    """Bad input the user can fix; the message says how. `field` names the parameter it is
    about (its analyse() keyword) when there is one, so a form can mark that field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
