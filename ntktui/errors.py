"""Front-end input errors. The CLI prints them as one line on stderr and exits with code 2."""


class UserError(ValueError):
    """Bad input the user can fix; the message says how."""
