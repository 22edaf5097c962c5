"""The one error every store failure becomes, in a module of its own so that a command can
catch it without loading SQLAlchemy."""


class StoreUnavailable(Exception):
    """The store could not be opened or used; the message is one line for the user."""
