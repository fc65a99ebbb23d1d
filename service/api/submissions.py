"""Submissions over the API (POST /api/v1/forms/<id>/submissions): to come."""
