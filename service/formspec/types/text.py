"""Free-text types: text, textarea, phone, id_number."""
from __future__ import annotations

from service.formspec import declare, validators as v
from service.formspec.types.base import Textual

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"


class Text(Textual):
    name = "text"
    keys = frozenset({"max_length", "constraint_message"})
    default_length = 200
    multiline = False

    def declare(self, check, ctx, data, kw):
        kw["max_length"] = declare.whole(check, ctx, data, "max_length", self.default_length,
                                         minimum=1)
        declare.constraint_message(check, ctx, data, kw)

    def validators(self, q):
        return [v.MaxLength(q.max_length, q.constraint_message)]

    def sample(self, q, rng, today):
        return (rng.choice(SURNAMES) + rng.choice(GIVEN))[:q.max_length]

    def bad(self, q):
        return ["字" * (q.max_length + 1)]


class Textarea(Text):
    name = "textarea"
    default_length = 2000
    multiline = True

    def sample(self, q, rng, today):
        return (rng.choice(SURNAMES) + rng.choice(GIVEN) + "希望得到帮助")[:q.max_length]


class Phone(Textual):
    name = "phone"

    def validators(self, q):
        return [v.phone]

    def clean(self, q, data):
        return v.normalize_phone(data) if data else None

    def mask(self, text):
        if len(text) >= 7:
            return text[:3] + "*" * (len(text) - 7) + text[-4:]
        return super().mask(text)

    def sample(self, q, rng, today):
        return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"

    def bad(self, q):
        return ["010-12345678"]


class IdNumber(Textual):
    name = "id_number"

    def validators(self, q):
        return [v.id_number]

    def clean(self, q, data):
        return v.normalize_id_number(data) if data else None

    def mask(self, text):
        if len(text) >= 8:
            return text[:4] + "*" * (len(text) - 8) + text[-4:]
        return super().mask(text)

    def sample(self, q, rng, today):
        import datetime as dt
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 70))
        body = f"{rng.choice(['110105', '350102', '440106'])}{born:%Y%m%d}{rng.randrange(1000):03d}"
        return body + v.ID_CHECK[sum(int(d) * w for d, w in zip(body, v.ID_WEIGHTS)) % 11]

    def bad(self, q):
        return ["110105194912310021"]     # the check digit is wrong
