"""Alert state on Elasticsearch: one small index (`index_config/alerts-v1.json`) holding alerts,
deliveries, per-rule state, silences and cases, told apart by `kind`; the record itself is kept whole in
an unindexed `doc` object, beside the fields queries filter on.

Writes refresh at once (alert state is written a few times per check, and the next read must see
it). An alert is written with external versioning (`version` = its write count), so a second
process writing from a stale copy gets 409, raised as `Conflict`; a delivery is created with
`op_type=create`, so its idempotency key is recorded once.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, NotFoundError

import index_config
from yuqing.alertstore.base import Conflict
from yuqing.alertstore.model import AlertQuery, AlertRecord, Case, CaseQuery, Delivery, Silence
from yuqing.config import ElasticsearchConfig
from yuqing.storage.base import StoreError
from yuqing.storage.elasticsearch import connect, translated_errors

log = logging.getLogger("yuqing.alerts")
MAX_RESULTS = 10_000  # a page of the index; alert state is small


class ElasticsearchAlertStore:
    """`AlertStore` on an Elasticsearch 8 cluster (the same one as the mentions)."""

    def __init__(self, cfg: ElasticsearchConfig) -> None:
        self.cfg = cfg
        try:
            self.layout = index_config.load_alerts(cfg.index_prefix)
        except ValueError as e:
            raise StoreError(f"store.elasticsearch.index_prefix: {e}") from e
        self.names = self.layout.names
        self._client = connect(cfg)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        with translated_errors(self.cfg.url, what, f"run `yuqing index setup` to create {self.names.index}"):
            yield

    def setup(self) -> list[str]:
        """Apply the index template and create the index (idempotent)."""
        lines = []
        indices = self._client.indices
        with self._errors("set up the alert index"):
            wanted = self.layout.index_template()
            try:
                found = indices.get_index_template(name=self.names.template).body["index_templates"]
                current = found[0]["index_template"].get("_meta", {}) if found else None
            except NotFoundError:
                current = None
            if current is not None and current.get("digest") == wanted["meta"]["digest"]:
                lines.append(f"unchanged: index template {self.names.template}")
            else:
                indices.put_index_template(name=self.names.template, **wanted)
                lines.append(f"{'updated' if current is not None else 'created'} index template {self.names.template}")
                if indices.exists(index=self.names.index):
                    indices.put_mapping(index=self.names.index, **self.layout.mappings)
                    lines.append(f"updated mappings of {self.names.index}")
            if indices.exists(index=self.names.index):
                lines.append(f"unchanged: index {self.names.index}")
            else:
                indices.create(index=self.names.index)
                lines.append(f"created index {self.names.index} with alias {self.names.alias} (from the template)")
        return lines

    def drop(self) -> None:
        """Delete the index and template (tests; irreversible)."""
        with self._errors("delete the alert index"):
            self._client.options(ignore_status=404).indices.delete(index=self.names.index)
            self._client.options(ignore_status=404).indices.delete_index_template(name=self.names.template)

    # -- documents -----------------------------------------------------------------------------

    def _index(self, kind: str, key: str, fields: dict[str, Any], doc: dict[str, Any], **options: Any) -> None:
        self._client.index(index=self.names.index, id=f"{kind}:{key}", refresh=True,
                           document={"kind": kind, **fields, "doc": doc}, **options)

    def _get(self, kind: str, key: str) -> dict[str, Any] | None:
        try:
            found = self._client.get(index=self.names.index, id=f"{kind}:{key}").body
        except NotFoundError as e:
            if "index_not_found" in str(e.body):
                raise
            return None
        return dict(found["_source"]["doc"])

    def _search(self, kind: str, filters: list[dict[str, Any]], sort: list[Any], size: int = MAX_RESULTS
                ) -> list[dict[str, Any]]:
        body = self._client.search(index=self.names.alias, size=size, sort=sort,
                                   query={"bool": {"filter": [{"term": {"kind": kind}}, *filters]}}).body
        return [h["_source"]["doc"] for h in body["hits"]["hits"]]

    # -- alerts --------------------------------------------------------------------------------

    @staticmethod
    def _alert_fields(r: AlertRecord) -> dict[str, Any]:
        return {"id": r.id, "rule": r.rule, "institution": r.institution, "source": r.source, "state": r.state,
                "started_at": r.started_at.isoformat(), "updated_at": r.updated_at.isoformat()}

    def put_alert(self, record: AlertRecord) -> AlertRecord:
        saved = AlertRecord.from_dict({**record.to_dict(), "version": record.version + 1})
        with self._errors(f"save alert {record.id}"):
            try:
                self._index("alert", record.id, self._alert_fields(saved), saved.to_dict(),
                            version=saved.version, version_type="external")
            except ConflictError:
                raise Conflict(f"alert {record.id} was changed by another process since version "
                               f"{record.version}") from None
        return saved

    def _record(self, doc: dict[str, Any]) -> AlertRecord | None:
        try:
            return AlertRecord.from_dict(doc)
        except (ValueError, KeyError, TypeError) as e:
            log.error("%s: an alert record is damaged (%s: %s); left in place", self.names.index, type(e).__name__, e)
            return None

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        with self._errors(f"read alert {alert_id}"):
            doc = self._get("alert", alert_id)
        return self._record(doc) if doc is not None else None

    def list_alerts(self, query: AlertQuery) -> list[AlertRecord]:
        filters: list[dict[str, Any]] = [{"term": {field: value}} for field, value in
                                         (("institution", query.institution), ("rule", query.rule),
                                          ("source", query.source))
                                         if value is not None]
        if query.states:
            filters.append({"terms": {"state": list(query.states)}})
        if query.until is not None:
            filters.append({"range": {"started_at": {"lt": query.until.isoformat()}}})
        if query.since is not None:
            filters.append({"range": {"updated_at": {"gte": query.since.isoformat()}}})
        with self._errors("list alerts"):
            docs = self._search("alert", filters, [{"updated_at": "desc"}, {"id": "asc"}], size=query.limit)
        return [r for r in map(self._record, docs) if r is not None]

    # -- deliveries ----------------------------------------------------------------------------

    @staticmethod
    def _delivery_fields(d: Delivery) -> dict[str, Any]:
        return {"id": d.key, "alert_id": d.alert_id, "state": d.state, "due_at": d.due_at.isoformat(),
                "created_at": d.created_at.isoformat()}

    def add_delivery(self, delivery: Delivery) -> bool:
        with self._errors(f"record notice {delivery.key}"):
            try:
                self._index("delivery", delivery.key, self._delivery_fields(delivery), delivery.to_dict(),
                            op_type="create")
            except ConflictError:
                return False
        return True

    def put_delivery(self, delivery: Delivery) -> None:
        with self._errors(f"save notice {delivery.key}"):
            self._index("delivery", delivery.key, self._delivery_fields(delivery), delivery.to_dict())

    def deliveries(self, alert_id: str | None = None, pending_due: datetime | None = None) -> list[Delivery]:
        if alert_id is not None:
            filters: list[dict[str, Any]] = [{"term": {"alert_id": alert_id}}]
        else:
            filters = [{"term": {"state": "pending"}}]
            if pending_due is not None:
                filters.append({"range": {"due_at": {"lte": pending_due.isoformat()}}})
        with self._errors("read notices"):
            docs = self._search("delivery", filters, [{"created_at": "asc"}, {"id": "asc"}])
        out = []
        for doc in docs:
            try:
                out.append(Delivery.from_dict(doc))
            except (ValueError, KeyError, TypeError) as e:
                log.error("%s: notice %s is damaged (%s: %s); left in place", self.names.index, doc.get("key", "?"),
                          type(e).__name__, e)
        return out

    def count_pending(self) -> int:
        with self._errors("count pending notices"):
            body = self._client.count(index=self.names.alias, query={"bool": {"filter": [
                {"term": {"kind": "delivery"}}, {"term": {"state": "pending"}}]}}).body
        return int(body["count"])

    # -- per-rule state ------------------------------------------------------------------------

    @staticmethod
    def _rule_key(rule: str, institution: str) -> str:
        return f"{rule}\x1f{institution}"

    def get_rule_state(self, rule: str, institution: str) -> dict[str, Any]:
        with self._errors(f"read the state of rule {rule}"):
            return self._get("rule_state", self._rule_key(rule, institution)) or {}

    def put_rule_state(self, rule: str, institution: str, state: dict[str, Any]) -> None:
        with self._errors(f"save the state of rule {rule}"):
            self._index("rule_state", self._rule_key(rule, institution), {"rule": rule, "institution": institution},
                        state)

    # -- silences ------------------------------------------------------------------------------

    def put_silence(self, silence: Silence) -> None:
        with self._errors(f"save silence {silence.id}"):
            self._index("silence", silence.id, {"id": silence.id, "created_at": silence.created_at.isoformat(),
                                                "until": silence.until.isoformat()}, silence.to_dict())

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        filters: list[dict[str, Any]] = []
        if active_at is not None:
            filters = [{"range": {"created_at": {"lte": active_at.isoformat()}}},
                       {"range": {"until": {"gt": active_at.isoformat()}}}]
        with self._errors("read silences"):
            docs = self._search("silence", filters, [{"until": "asc"}, {"id": "asc"}])
        return [Silence.from_dict(doc) for doc in docs]

    def delete_silence(self, silence_id: str) -> bool:
        with self._errors(f"delete silence {silence_id}"):
            result = self._client.options(ignore_status=404).delete(index=self.names.index, id=f"silence:{silence_id}",
                                                                    refresh=True).body
        return bool(result.get("result") == "deleted")

    # -- cases ---------------------------------------------------------------------------------

    def put_case(self, case: Case) -> Case:
        saved = Case.from_dict({**case.to_dict(), "version": case.version + 1})
        fields = {"id": saved.id, "mention_id": saved.mention_id, "institution": saved.institution,
                  "state": saved.status, "handler": saved.handler, "created_at": saved.opened_at.isoformat()}
        with self._errors(f"save case {case.id}"):
            try:
                self._index("case", case.id, fields, saved.to_dict(), version=saved.version, version_type="external")
            except ConflictError:
                raise Conflict(f"case {case.id} was changed by someone else since version {case.version}") from None
        return saved

    def get_case(self, case_id: str) -> Case | None:
        with self._errors(f"read case {case_id}"):
            doc = self._get("case", case_id)
        return Case.from_dict(doc) if doc is not None else None

    def list_cases(self, query: CaseQuery) -> list[Case]:
        filters: list[dict[str, Any]] = [{"term": {field: value}} for field, value in
                                         (("handler", query.handler), ("mention_id", query.mention_id))
                                         if value is not None]
        if query.statuses:
            filters.append({"terms": {"state": list(query.statuses)}})
        if query.institutions is not None:
            filters.append({"terms": {"institution": list(query.institutions)}})
        with self._errors("list cases"):
            docs = self._search("case", filters, [{"created_at": "desc"}, {"id": "asc"}], size=query.limit)
        return [Case.from_dict(doc) for doc in docs]

    def close(self) -> None:
        self._client.close()


__all__ = ["ElasticsearchAlertStore"]
