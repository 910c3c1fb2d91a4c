"""The sandbox's HTTP surface: a werkzeug WSGI app speaking the Connectif API.

Routes (each also answers without its trailing slash):

=======================================  =====================================================
``GET /coupon-sets/``, ``/workflows/``   lists, creation order, ``?offset=&limit=``
``GET /coupon-sets/{id}``                one set; 404 when unknown (same for all resources)
``GET /workflows/{id}``                  one workflow
``POST /imports/``                       multipart coupon import -> 201 + Import
``GET /imports/``, ``/imports/{id}``     imports, newest first / one import
``GET /_sandbox/files/import-errors/…``  error reports; no auth (like a signed storage URL)
``/_sandbox/clock/advance``, ``…/faults``  admin API (:mod:`.admin`, documented in
``/_sandbox/demand``                     :mod:`.faults`): auth, no rate limit, never faulted
=======================================  =====================================================

Pagination is a documented sandbox choice (Connectif's parameters are unknown): ``offset``
(default 0) and ``limit`` (default ``page_size``, capped at 100); bad values get a 400.
``links.next`` is present only when more items follow, ``links.prev`` only after the first
page; both are absolute URLs. Errors are HttpError JSON ``{"status", "title", "detail"}``,
plus ``code`` for E0401 and ``validationErrors: [{"path", "reason"}]`` for 422.

Every request except the admin API first meets the fault injector (``state.faults``): it may
be delayed, answered in the API's place, or served and then dropped unanswered.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.http import http_date
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from voucherbot.sandbox.admin import ADMIN_PREFIX, AdminApi
from voucherbot.sandbox.connection import ConnectionDropped, drop_connection, wait_while_connected
from voucherbot.sandbox.imports import REPORT_PATH, CsvProblem, read_codes
from voucherbot.sandbox.responses import Problem, json_response, unprocessable
from voucherbot.sandbox.responses import shown as _shown
from voucherbot.sandbox.state import NotMultipleError, QueueFullError, SandboxState

MAX_PAGE_SIZE = 100
IMPORT_TYPES = ("contacts", "products", "coupons")
_DIGITS = re.compile(r"[0-9]{1,18}")

Handler = Callable[..., Response]


class SandboxRequest(Request):
    """A Request that also closes upload spools the form parser abandoned on a 413."""

    def __init__(self, environ: WSGIEnvironment, max_content_length: int) -> None:
        super().__init__(environ)
        self.max_content_length = max_content_length
        self._spools: list[IO[bytes]] = []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )
        self._spools.append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self._spools:
            stream.close()


def is_admin(path: str) -> bool:
    """Whether a path belongs to the admin API (everything under /_sandbox/ but the files)."""
    return path.startswith(ADMIN_PREFIX) and not path.startswith(REPORT_PATH)


def _presented_key(request: Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "apikey" else ""


class SandboxApp:
    """WSGI callable; all state lives in the :class:`SandboxState` it serves."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.url_map = Map(
            [
                Rule("/coupon-sets", endpoint="list_sets", methods=["GET"]),
                Rule("/coupon-sets/<set_id>", endpoint="get_set", methods=["GET"]),
                Rule("/workflows", endpoint="list_workflows", methods=["GET"]),
                Rule("/workflows/<workflow_id>", endpoint="get_workflow", methods=["GET"]),
                Rule("/imports", endpoint="list_imports", methods=["GET"]),
                Rule("/imports", endpoint="create_import", methods=["POST"]),
                Rule("/imports/<import_id>", endpoint="get_import", methods=["GET"]),
                Rule("/_sandbox/clock/advance", endpoint="advance_clock", methods=["POST"]),
                Rule("/_sandbox/faults", endpoint="list_faults", methods=["GET"]),
                Rule("/_sandbox/faults", endpoint="add_fault", methods=["POST"]),
                Rule("/_sandbox/faults", endpoint="clear_faults", methods=["DELETE"]),
                Rule("/_sandbox/faults/<fault_id>", endpoint="remove_fault", methods=["DELETE"]),
                Rule("/_sandbox/demand", endpoint="get_demand", methods=["GET"]),
                Rule("/_sandbox/demand", endpoint="set_demand", methods=["POST"]),
                Rule(REPORT_PATH + "<name>", endpoint="error_report", methods=["GET"]),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )
        self.handlers: dict[str, Handler] = {
            "list_sets": self.list_sets,
            "get_set": self.get_set,
            "list_workflows": self.list_workflows,
            "get_workflow": self.get_workflow,
            "list_imports": self.list_imports,
            "create_import": self.create_import,
            "get_import": self.get_import,
        }
        admin = AdminApi(state)
        for name in (
            "advance_clock",
            "list_faults",
            "add_fault",
            "clear_faults",
            "remove_fault",
            "get_demand",
            "set_demand",
        ):
            self.handlers[name] = getattr(admin, name)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = SandboxRequest(environ, self.state.config.max_upload_bytes)
        try:
            faults = None if is_admin(request.path) else self.state.faults
            response = faults.before_request(request) if faults is not None else None
            if response is None:
                response = self.dispatch(request)
                served = faults is not None and response.status_code // 100 == 2
                if served and faults is not None and faults.take_drop(request):
                    drop_connection(environ, "sandbox fault: drop_after_accept")
                if served and faults is not None:
                    response = faults.take_answer(request) or response
            # The Date header follows the sandbox clock, so a client that dates its readings
            # by the server (as voucherbot does) sees advance() as the passing of time.
            response.headers["Date"] = http_date(self.state.now())
            return response(environ, start_response)
        finally:
            request.close()

    def dispatch(self, request: Request) -> Response:
        """Route, rate-limit, authenticate and serve one request (faults are applied around)."""
        path = request.path.rstrip("/") or "/"
        endpoint: str | None = None
        args: Mapping[str, Any] = {}
        problem: Problem | None = None
        allowed: list[str] = []
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match(
                path, method=request.method
            )
        except NotFound:
            problem = Problem(404, f"No such endpoint: {request.method} {request.path}")
        except MethodNotAllowed as exc:
            problem = Problem(405, f"{request.method} is not allowed on {request.path}")
            allowed = sorted(exc.valid_methods or ())
        if endpoint == "error_report":
            return self.error_report(request, **args)

        key = _presented_key(request)
        decision = self.state.begin_request(key, count=not path.startswith("/_sandbox/"))
        if decision is not None and not decision.allowed:
            response = Problem(429, "Requests rate limit reached").response()
        elif not hmac.compare_digest(key.encode(), self.state.api_key.encode()):
            response = Problem(
                401,
                "Not authorized to access API: send the header "
                "'Authorization: apiKey <key>' with a valid key",
            ).response()
            response.headers["WWW-Authenticate"] = "apiKey"
        elif problem is not None:
            response = problem.response()
            if problem.status == 405:
                response.headers["Allow"] = ", ".join(allowed)
        else:
            try:
                response = self.handlers[str(endpoint)](request, **args)
            except Problem as exc:
                response = exc.response()
        if decision is not None:
            response.headers.update(
                decision.headers(retry_after_header=self.state.config.retry_after_header)
            )
        return response

    # --- lists ----------------------------------------------------------------------------

    def page(
        self,
        request: Request,
        fetch: Callable[[int, int], tuple[Sequence[Any], int]],
        path: str,
        show: Callable[[Any], dict[str, Any]],
    ) -> Response:
        """One page of a list: ``fetch(offset, limit)`` gives the page's records and the
        list's length, ``show`` each record's JSON; only the page is copied and shown."""
        offset = self._int_param(request, "offset", 0, minimum=0)
        limit = min(
            self._int_param(request, "limit", self.state.config.page_size, minimum=1), MAX_PAGE_SIZE
        )
        records, total = fetch(offset, limit)
        base = request.host_url.rstrip("/") + path
        links: dict[str, str] = {}
        if offset + limit < total:
            links["next"] = f"{base}?offset={offset + limit}&limit={limit}"
        if offset > 0:
            links["prev"] = f"{base}?offset={max(0, offset - limit)}&limit={limit}"
        return json_response({"results": [show(r) for r in records], "links": links})

    @staticmethod
    def _int_param(request: Request, name: str, default: int, *, minimum: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        if not _DIGITS.fullmatch(raw) or int(raw) < minimum:
            raise Problem(
                400,
                f"Invalid query parameter {name}={_shown(raw)}: "
                f"expected an integer of at least {minimum}",
            )
        return int(raw)

    def list_sets(self, request: Request) -> Response:
        return self.page(
            request, self.state.listed_sets_page, "/coupon-sets/", lambda cs: cs.to_json()
        )

    def list_workflows(self, request: Request) -> Response:
        return self.page(request, self.state.workflows_page, "/workflows/", lambda w: w.to_json())

    def list_imports(self, request: Request) -> Response:
        base = request.host_url
        return self.page(
            request, self.state.imports_page, "/imports/", lambda imp: imp.to_json(base)
        )

    # --- single resources -----------------------------------------------------------------

    def get_set(self, request: Request, set_id: str) -> Response:
        try:
            return json_response(self.state.listed_set(set_id).to_json())
        except KeyError:
            raise Problem(404, f"Coupon set {_shown(set_id)} not found") from None

    def get_workflow(self, request: Request, workflow_id: str) -> Response:
        try:
            return json_response(self.state.get_workflow(workflow_id).to_json())
        except KeyError:
            raise Problem(404, f"Workflow {_shown(workflow_id)} not found") from None

    def get_import(self, request: Request, import_id: str) -> Response:
        try:
            return json_response(self.state.get_import(import_id).to_json(request.host_url))
        except KeyError:
            raise Problem(404, f"Import {_shown(import_id)} not found") from None

    # --- imports --------------------------------------------------------------------------

    def _too_large(self) -> Problem:
        limit = self.state.config.max_upload_bytes
        return Problem(413, f"File too big: the request body is over the limit of {limit} bytes")

    def create_import(self, request: Request) -> Response:
        if (request.content_length or 0) > self.state.config.max_upload_bytes:
            raise self._too_large()  # decided from the header; the body is never parsed
        if request.mimetype != "multipart/form-data":
            raise Problem(
                415, "Unsupported Content-Type: imports must be sent as multipart/form-data"
            )
        try:
            form, files = request.form, request.files
        except RequestEntityTooLarge:
            raise self._too_large() from None
        delimiter, flags, set_id, upload = self._import_form(form, files)
        try:
            codes = read_codes(upload.stream, delimiter)
        except CsvProblem as exc:
            raise unprocessable([("file", str(exc))]) from None
        except RequestEntityTooLarge:  # pragma: no cover - the form parser reads first
            raise self._too_large() from None
        hang = self.state.faults.take_hang(request)
        if hang > 0 and not wait_while_connected(request.environ, hang):
            raise ConnectionDropped("the client left while hang_before_accept held the import")
        try:
            imp = self.state.create_import(
                set_id,
                codes,
                delimiter=delimiter,
                override_existing=flags["overrideExisting"],
                update_only_empty_fields=flags["updateOnlyEmptyFields"],
            )
        except QueueFullError:
            raise Problem(
                400,
                f"The limit of {self.state.config.max_queued_imports} queued "
                "imports has been reached. Retry when a queued import has "
                "completed.",
                code="E0401",
            ) from None
        except (KeyError, NotMultipleError):  # pragma: no cover - sets are never removed
            raise unprocessable(self._check_set(set_id)) from None
        response = json_response(imp.to_json(request.host_url), 201)
        response.headers["Location"] = request.host_url.rstrip("/") + f"/imports/{imp.id}"
        return response

    def _import_form(self, form: Any, files: Any) -> tuple[str, dict[str, bool], str, Any]:
        """The import's fields (delimiter, flags, coupon set id, file), or a 422 listing every
        field that is wrong."""
        errors: list[tuple[str, str]] = []
        kind = form.get("type", "")
        if kind not in IMPORT_TYPES:
            errors.append(
                (
                    "type",
                    f"must be one of contacts, products, coupons (got "
                    f"{_shown(kind) if kind else 'nothing'})",
                )
            )
        elif kind != "coupons":
            errors.append(
                ("type", f"{kind} imports are not implemented by the sandbox; only coupons")
            )
        delimiter = form.get("delimiter", "")
        if delimiter not in (",", ";"):
            errors.append(("delimiter", "must be ',' or ';'"))
        flags: dict[str, bool] = {}
        for name in ("overrideExisting", "updateOnlyEmptyFields"):
            value = form.get(name, "").strip().lower()
            if value not in ("true", "false"):
                errors.append((name, "required: 'true' or 'false'"))
            flags[name] = value == "true"
        if flags["updateOnlyEmptyFields"] and not flags["overrideExisting"]:
            errors.append(
                ("updateOnlyEmptyFields", "may be true only when overrideExisting is true")
            )
        set_id = form.get("couponSetId", "")
        if kind == "coupons":
            errors += self._check_set(set_id)
        upload = files.get("file")
        if upload is None:
            errors.append(("file", "required: a UTF-8 CSV file part named 'file'"))
        if errors:
            raise unprocessable(errors)
        return delimiter, flags, set_id, upload

    def _check_set(self, set_id: str) -> list[tuple[str, str]]:
        if not set_id:
            return [("couponSetId", "required for coupon imports")]
        try:
            coupon_set = self.state.get_set(set_id)
        except KeyError:
            return [("couponSetId", f"no coupon set has the id {_shown(set_id)}")]
        if coupon_set.type != "multiple":
            return [
                (
                    "couponSetId",
                    f"coupon set {set_id} is a '{coupon_set.type}' set; codes "
                    "can only be imported into 'multiple' sets",
                )
            ]
        return []

    # --- sandbox extras -------------------------------------------------------------------

    def error_report(self, request: Request, name: str) -> Response:
        self.state.settle()
        imp = self.state.find_report(name)
        if imp is None:
            return Problem(404, "No such file").response()
        response = Response(imp.error_report_csv(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def make_app(state: SandboxState) -> WSGIApplication:
    """The WSGI application serving ``state``."""
    return SandboxApp(state)
