"""Form definitions as data: load and validate `forms/*.yaml`, evaluate conditions, build WTForms."""
from service.formspec.loader import FormError, load_dir, load_file, parse
from service.formspec.model import FormSpec, Question

__all__ = ["FormError", "FormSpec", "Question", "load_dir", "load_file", "parse"]
