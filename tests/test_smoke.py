from service.models import Submission

from .conftest import receipt


def test_a_valid_submission_is_stored_with_its_receipt(app, visitor, database):
    page = visitor.submit("/f/kitchen", {
        "consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"})
    assert page.status_code == 200, page.text
    code = receipt(page.text)
    stored = Submission.get()
    assert stored.receipt == code
    assert stored.form_id == "kitchen" and stored.form_version == 1
