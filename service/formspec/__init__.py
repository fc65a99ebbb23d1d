"""Form definitions as data: load and validate `forms/*.yaml`, evaluate conditions, build WTForms."""
from .loader import FormError, load_dir, load_file, parse
from .model import FormSpec, Question

__all__ = ["FormError", "FormSpec", "Question", "load_dir", "load_file", "parse"]
