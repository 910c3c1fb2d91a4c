"""The import POST's one retry policy and adopting only what is provably a batch's own
(voucherbot.refill.posting), without a server: the pure matcher, the policy over scripted answers,
and reading GET /imports/ back far enough (pytest-httpserver)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.support import API_KEY, FakeClock
from voucherbot.config.settings import ImportPolicy
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.models import Import
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.errors import (
    BadRequestError,
    ImportUnconfirmedError,
    NetworkError,
    RateLimitedError,
    ServerError,
)
from voucherbot.ledger import Batch
from voucherbot.refill.posting import (
    Finding,
    LookupFailed,
    Verdict,
    look,
    match,
    post_batch,
    read_back,
)

MARK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SINCE = MARK - timedelta(seconds=10)


def batch(**fields: Any) -> Batch:
    values: dict[str, Any] = dict(
        id=7,
        run_id=1,
        coupon_set_id="s1",
        coupon_set_name="Welcome",
        count=300,
        shape="",
        status="submitting",
        import_id=None,
        import_status=None,
        total=None,
        success=None,
        errors=None,
        rejected=None,
        error_report_url=None,
        error=None,
        created_at=MARK,
        submitted_at=MARK,
        settled_at=None,
        posted_at=MARK,
    )
    values.update(fields)
    return Batch(**values)


def imp(import_id: str, seconds_after_mark: float, **fields: Any) -> Import:
    values: dict[str, Any] = dict(
        id=import_id,
        status="queued",
        type="coupons",
        origin="api",
        total=300,
        coupon_set_id="s1",
        created_at=MARK + timedelta(seconds=seconds_after_mark),
    )
    values.update(fields)
    return Import(**values)


# --- match: pure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("imports", "verdict", "adopted", "why"),
    [
        ([imp("ours", 1)], Verdict.ADOPT, "ours", ""),
        ([imp("ours", -9)], Verdict.ADOPT, "ours", ""),  # within clock_skew of the mark
        ([], Verdict.ABSENT, None, ""),
        ([imp("old", -11)], Verdict.ABSENT, None, ""),  # before the mark: another tool's
        ([imp("other-set", 1, coupon_set_id="s2")], Verdict.ABSENT, None, ""),
        ([imp("other-size", 1, total=299)], Verdict.ABSENT, None, ""),
        ([imp("from-app", 1, origin="app")], Verdict.ABSENT, None, ""),
        ([imp("contacts", 1, type="contacts")], Verdict.ABSENT, None, ""),
        ([imp("known", 1)], Verdict.ABSENT, None, ""),
        (
            [imp("a", 1), imp("b", 2)],
            Verdict.UNRESOLVED,
            None,
            "more than one import could be batch 7's (a, b)",
        ),
        (
            [imp("ours", 1), imp("no-size", 2, total=None)],
            Verdict.UNRESOLVED,
            None,
            "import(s) ours, no-size could be batch 7's but do not show",
        ),
        ([imp("no-set", 1, coupon_set_id=None)], Verdict.UNRESOLVED, None, "do not show"),
        ([imp("no-date", 0, created_at=None)], Verdict.UNRESOLVED, None, "do not show"),
    ],
    ids=[
        "one",
        "skew",
        "none",
        "older",
        "other-set",
        "other-size",
        "app",
        "contacts",
        "known",
        "two",
        "one-and-a-doubt",
        "no-set",
        "no-date",
    ],
)
def test_only_what_is_provably_the_batchs_own_is_adopted(
    imports: list[Import], verdict: Verdict, adopted: str | None, why: str
) -> None:
    found = match(batch(), imports, {"known"}, SINCE, complete=True)
    assert found.verdict is verdict
    assert (found.imp.id if found.imp else None) == adopted
    assert why in found.why


def test_absent_or_ours_needs_a_list_read_back_far_enough() -> None:
    found = match(batch(), [imp("other-size", 1, total=5)], set(), SINCE, complete=False)
    assert found.verdict is Verdict.UNRESOLVED
    assert "could not be read back to 2026-06-01 11:59:50 UTC, and another import" in found.why
    # one that looks like ours is not proof either: a second may be further down the list
    found = match(batch(), [imp("ours", 1)], set(), SINCE, complete=False)
    assert found.verdict is Verdict.UNRESOLVED and "; ours could be it, but" in found.why


def test_an_import_another_open_batch_of_the_set_could_own_is_not_adopted() -> None:
    found = match(batch(), [imp("ours", 1)], set(), SINCE, complete=True, rivals=[6])
    assert found.verdict is Verdict.UNRESOLVED
    assert found.why == (
        "import ours could be batch 7's or batch 6's (same set, same size, "
        "imports not known either)"
    )


# --- the policy -----------------------------------------------------------------------------


NOTHING = Finding(Verdict.ABSENT)


class Script:
    """send() answers (or raises) the next of ``answers``; find() says what is listed."""

    def __init__(self, *answers: Import | Exception, finding: Finding = NOTHING) -> None:
        self.answers = list(answers)
        self.finding = finding
        self.sent = 0
        self.looked = 0
        self.slept: list[float] = []

    def send(self) -> Import:
        self.sent += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def find(self) -> Finding:
        self.looked += 1
        return self.finding

    def post(self, policy: ImportPolicy | None = None) -> Any:
        return post_batch(
            self.send,
            self.find,
            policy or ImportPolicy(),
            backoff=lambda attempt: 0.5 * attempt,
            sleep=self.slept.append,
            label="batch 7",
        )


UNCONFIRMED = ImportUnconfirmedError("POST /imports/: server error (502); may or may not")
REFUSED = NetworkError("POST /imports/: cannot connect", sent=False)
LIMITED = RateLimitedError("POST /imports/: rate limited (429)", status=429)
CREATED = imp("new", 0)


def test_an_answered_post_is_sent_once() -> None:
    script = Script(CREATED)
    posted = script.post()
    assert (posted.imp, posted.adopted, posted.attempts, script.sent) == (CREATED, False, 1, 1)


def test_an_ambiguous_answer_is_looked_up_and_what_was_created_adopted() -> None:
    script = Script(UNCONFIRMED, finding=Finding(Verdict.ADOPT, CREATED))
    posted = script.post()
    assert (posted.imp, posted.adopted, script.sent, script.looked) == (CREATED, True, 1, 1)


def test_an_ambiguous_answer_with_nothing_created_sends_the_batch_again() -> None:
    script = Script(UNCONFIRMED, CREATED)
    posted = script.post()
    assert (posted.imp, posted.adopted, script.sent, script.looked) == (CREATED, False, 2, 1)


def test_an_ambiguous_answer_that_cannot_be_settled_is_unresolved_and_not_sent_again() -> None:
    script = Script(
        UNCONFIRMED,
        CREATED,
        finding=Finding(Verdict.UNRESOLVED, why="two imports could be its own"),
    )
    posted = script.post()
    assert posted.unresolved == f"{UNCONFIRMED}, and two imports could be its own"
    assert (posted.imp, script.sent) == (None, 1)


@pytest.mark.parametrize(
    "failure", [UNCONFIRMED, REFUSED, LIMITED], ids=["unconfirmed", "refused", "429"]
)
def test_attempts_per_batch_are_bounded(failure: Exception) -> None:
    script = Script(*[failure] * 10)
    posted = script.post(ImportPolicy(post_attempts=3))
    assert script.sent == 3 and posted.imp is None
    assert posted.failed == f"{failure}" + (
        "; GET /imports/ shows that none was" if failure is UNCONFIRMED else ""
    ) + (" (gave up after 3 attempts; no import was created)")
    assert script.slept == ([0.5, 1.0] if failure is REFUSED else [])


def test_a_search_that_fails_is_raised_as_such_and_nothing_is_sent_again() -> None:
    script = Script(UNCONFIRMED, CREATED)

    def broken() -> Finding:
        raise ServerError("GET /imports/: server error (503)", status=503)

    with pytest.raises(LookupFailed) as caught:
        post_batch(
            script.send,
            broken,
            ImportPolicy(),
            backoff=lambda a: 0.0,
            sleep=script.slept.append,
            label="batch 7",
        )
    assert caught.value.answer is UNCONFIRMED and isinstance(caught.value.cause, ServerError)
    assert (
        str(caught.value) == f"{UNCONFIRMED}, and GET /imports/ failed: GET /imports/: "
        "server error (503)"
    )
    assert script.sent == 1


def test_an_answer_that_says_nothing_was_created_is_raised_for_the_caller() -> None:
    script = Script(BadRequestError("POST /imports/: refused (400)", status=400), CREATED)
    with pytest.raises(BadRequestError):
        script.post()
    assert script.sent == 1 and script.looked == 0


# --- reading the list back, and looking twice ----------------------------------------------


@pytest.fixture
def client(httpserver: HTTPServer, fake_clock: FakeClock) -> ConnectifClient:
    budget = RateBudget(
        6000, clock=fake_clock.monotonic, wall=fake_clock.time, sleep=fake_clock.sleep
    )
    return ConnectifClient(
        API_KEY, httpserver.url_for("/").rstrip("/"), budget=budget, sleep=fake_clock.sleep
    )


def listed(import_id: str, seconds_after_mark: float) -> dict[str, Any]:
    when = MARK + timedelta(seconds=seconds_after_mark)
    return {
        "id": import_id,
        "status": "finished",
        "type": "coupons",
        "origin": "api",
        "total": 300,
        "success": 300,
        "errors": 0,
        "options": {"couponSetId": "s1"},
        "createdAt": when.isoformat().replace("+00:00", "Z"),
    }


def pages(httpserver: HTTPServer, *docs: list[dict[str, Any]]) -> None:
    for n, results in enumerate(docs):
        more = {"next": httpserver.url_for(f"/imports/?page={n + 1}")} if n + 1 < len(docs) else {}
        httpserver.expect_request(
            "/imports/", method="GET", query_string=f"page={n}" if n else ""
        ).respond_with_json({"results": results, "links": more})


def test_a_newest_first_list_is_read_only_back_to_the_mark(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    pages(
        httpserver,
        [listed("n1", 30), listed("n2", 20)],
        [listed("n3", 5), listed("o1", -60)],
        [listed("o2", -120)],
    )
    imports, complete = read_back(client, SINCE, 5, newest_first=True)
    assert complete and [i.id for i in imports] == ["n1", "n2", "n3", "o1"]
    assert len(httpserver.log) == 2
    # without imports_newest_first the order proves nothing: the list is read to its end
    imports, complete = read_back(client, SINCE, 5)
    assert complete and len(imports) == 5 and len(httpserver.log) == 2 + 3
    assert read_back(client, SINCE, 2)[1] is False


def test_a_list_that_is_not_newest_first_is_read_to_its_end_whatever_the_setting(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    pages(
        httpserver, [listed("o1", -60), listed("n1", 30)], [listed("o2", -120)], [listed("n2", 40)]
    )
    assert read_back(client, SINCE, 3, newest_first=True)[1] is True  # read to its end
    assert read_back(client, SINCE, 2, newest_first=True)[1] is False


@pytest.mark.parametrize(
    ("answered", "waits"), [(3, 7), (0, 10), (12, 0)], ids=["3-s-ago", "just-now", "long-ago"]
)
def test_the_list_is_read_once_the_ambiguous_answer_is_lookup_delay_old(
    httpserver: HTTPServer,
    client: ConnectifClient,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    answered: float,
    waits: float,
) -> None:
    """Connectif may list a new import a moment late: it is looked for only once the answer
    is lookup_delay old, however long ago the upload began (a 429 wait, a big file)."""
    httpserver.expect_request("/imports/").respond_with_json({"results": [listed("late", 1)]})
    upload_began = MARK - timedelta(minutes=5)
    now = MARK + timedelta(seconds=answered)  # by the server's clock, the answer came at MARK
    monkeypatch.setattr(client, "now", lambda: now + timedelta(seconds=sum(fake_clock.sleeps)))
    found = look(
        client,
        batch(posted_at=upload_began),
        set(),
        ImportPolicy(lookup_delay=10),
        fake_clock.sleep,
        answered_at=MARK,
    )
    assert found.verdict is Verdict.ADOPT and found.imp is not None and found.imp.id == "late"
    assert sum(fake_clock.sleeps) == pytest.approx(waits) and len(httpserver.log) == 1


def test_a_batch_never_sent_has_nothing_to_look_for(client: ConnectifClient) -> None:
    sleep: Callable[[float], None] = lambda s: None  # noqa: E731
    found = look(client, batch(submitted_at=None), set(), ImportPolicy(), sleep)
    assert found.verdict is Verdict.UNRESOLVED and "no record of when it was sent" in found.why
