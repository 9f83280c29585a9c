"""Errors answered with Qdrant's error envelope, worded as Qdrant words them."""


# --------------------------------------------------------------------------
# Errors

class ApiError(Exception):
    """An error answered with Qdrant's error envelope."""

    def __init__(self, status, message, violation=False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.violation = violation


def not_found(desc):
    return ApiError(404, "Not found: " + desc)


def bad_input(desc):  # StorageError::BadInput -> 400
    return ApiError(400, "Wrong input: " + desc)


def bad_request(desc):  # StorageError::BadRequest -> 400
    return ApiError(400, "Bad request: " + desc)


def already_exists(desc):  # StorageError::AlreadyExists -> 409
    return ApiError(409, "Wrong input: " + desc)


def unsupported(what):
    return ApiError(400, "Bad request: %s is not supported by the qdrant test server" % what)


def violation(status, detail):
    return ApiError(status, "OpenAPI validation failed: " + detail, violation=True)


def collection_missing(name):
    return not_found("Collection `%s` doesn't exist!" % name)
