"""Reviewer quality (writes): known-answer checks and second opinions.

Known-answer checks: with the site's ``known_answer_checks`` on, a reviewer's queue gets,
about once in every ``known_answer_every`` flags they decide, a flag a site admin has
already decided (:func:`webapp.review.selectors.gold_flags`), with its own id and shown
exactly as a pending flag (:func:`webapp.review.selectors.present`). Serving the flag's own
id, rather than a check row with ids of its own, keeps every URL the pages and API
clients already use (heatmap, review, undo) and leaves no second id range to tell them
apart. The reviewer's decision on it is their answer, kept on the :class:`KnownAnswerCheck`
only: the flag, its label, the training data, the pending and decision counts and the
webhooks never hear of it, so a decision is never counted twice. Site reviewers get
checks; admins, whose decisions are the known answers, never do.

Second opinion: with ``second_opinion`` on, a reviewer's decision is an :class:`Opinion`;
the flag settles (its status, the label) when two reviewers agree, by a majority of at
least two, or when an admin decides. Reviewers who disagree leave it pending and disputed.

:func:`webapp.review.services.review_flag` and :func:`~webapp.review.services.undo_review`
route each decision here first; every rule about quality is in this module.
"""

from __future__ import annotations

from collections import Counter

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from webapp.review import selectors
from webapp.review.models import (
    DECISION_STATUS,
    Decision,
    Flag,
    FlagStatus,
    KnownAnswerCheck,
    Opinion,
)
from webapp.sites import audit
from webapp.sites.access import role_on
from webapp.sites.models import AuditAction, Site
from webapp.sites.roles import Role

VERB = {Decision.CONFIRM: "confirmed", Decision.REJECT: "rejected"}


def _audit(
    flag: Flag, actor: AbstractBaseUser, action: str, summary: str, **details: object
) -> None:
    asset = flag.score.asset
    audit.record(
        site=flag.site,
        actor=actor,
        action=action,
        object_type="flag",
        object_id=flag.pk,
        summary=f"{summary} (flag {flag.pk} on {asset.filename}, asset {asset.pk})",
        details={"asset": asset.pk, "filename": asset.filename, **details},
    )


# --- known-answer checks --------------------------------------------------------------


def _decisions_since(site: Site, reviewer: AbstractBaseUser, since: object) -> int:
    """Real decisions of ``reviewer`` on ``site`` after ``since`` (an opinion counts once)."""
    alone = (
        Flag.objects.filter(site=site, reviewer=reviewer, reviewed_at__gt=since)
        .exclude(opinions__reviewer=reviewer)
        .count()
    )
    opinions = Opinion.objects.filter(
        flag__site=site, reviewer=reviewer, decided_at__gt=since
    ).count()
    return alone + opinions


def serve_check(*, site: Site, reviewer: AbstractBaseUser) -> KnownAnswerCheck | None:
    """Put a known-answer check in ``reviewer``'s queue when one is due; None otherwise.

    Due: checks are on, the user is a reviewer (not an admin) of the site, they have no
    check waiting, at least ``known_answer_every - 1`` real decisions since they answered
    the last one (so about one flag in every ``known_answer_every`` is a check), and real
    flags wait for them (a queue of checks alone would give them away). The check is a
    known flag they have never been given, decided or given an opinion on, picked at
    random among those of the models whose flags are in the queue now (a flag of a
    model long replaced would stand out).
    """
    if not site.known_answer_checks or role_on(reviewer, site) != Role.REVIEWER:
        return None  # (before the transaction: the queue of most sites asks this only)
    with transaction.atomic():
        return _serve_due_check(site, reviewer)


def _serve_due_check(site: Site, reviewer: AbstractBaseUser) -> KnownAnswerCheck | None:
    mine = KnownAnswerCheck.objects.filter(reviewer=reviewer, flag__site=site)
    if selectors.live_checks(site, reviewer).filter(answer="").exists():
        return None
    last = mine.aggregate(last=Max("answered_at"))["last"]
    if last is not None and _decisions_since(site, reviewer, last) < site.known_answer_every - 1:
        return None
    waiting = Flag.objects.filter(site=site, status=FlagStatus.PENDING)
    if not waiting.exclude(opinions__reviewer=reviewer).exists():
        return None
    flag = (
        selectors.gold_flags(site)
        .filter(score__version__in=waiting.values("score__version"))
        .exclude(reviewer=reviewer)
        .exclude(checks__reviewer=reviewer)
        .exclude(opinions__reviewer=reviewer)
        .order_by("?")
        .first()
    )
    if flag is None:
        return None
    check, _ = KnownAnswerCheck.objects.get_or_create(flag=flag, reviewer=reviewer)
    return check


def check_of(flag: Flag, reviewer: AbstractBaseUser) -> KnownAnswerCheck | None:
    """``reviewer``'s check on ``flag`` while the flag is still known, if they have one."""
    return selectors.live_checks(flag.site, reviewer).select_for_update().filter(flag=flag).first()


def answer_check(
    *, check: KnownAnswerCheck, flag: Flag, decision: str, note: str = ""
) -> KnownAnswerCheck:
    """Record the reviewer's answer to a check; the flag itself is left as it is."""
    check.answer = decision
    check.answered_at = timezone.now()
    check.note = note.strip()
    check.save(update_fields=["answer", "answered_at", "note"])
    agrees = DECISION_STATUS[Decision(decision)] == flag.status
    _audit(
        flag,
        check.reviewer,
        AuditAction.CHECK_ANSWERED,
        f"{VERB[Decision(decision)]} a known-answer check: "
        f"{'agrees' if agrees else 'disagrees'} with the admin's decision ({flag.status})",
        answer=decision,
        known=flag.status,
        agrees=agrees,
    )
    return check


def undo_answer(*, check: KnownAnswerCheck, flag: Flag) -> None:
    """Take back the answer: the check waits in the reviewer's queue again."""
    answer = check.answer
    check.answer, check.answered_at, check.note = "", None, ""
    check.save(update_fields=["answer", "answered_at", "note"])
    _audit(
        flag,
        check.reviewer,
        AuditAction.CHECK_UNDONE,
        f"undid their answer ({answer}) to a known-answer check",
        answer=answer,
    )


def end_open_checks(flag: Flag) -> None:
    """The flag's decision was undone: it is no longer known, unanswered checks go.

    Answered ones are kept (they stop counting while the flag is not known).
    """
    KnownAnswerCheck.objects.filter(flag=flag, answer="").delete()


# --- second opinion -------------------------------------------------------------------


def needs_second_opinion(flag: Flag, reviewer: AbstractBaseUser) -> bool:
    """Whether ``reviewer``'s decision on ``flag`` is an opinion rather than the label."""
    return flag.site.second_opinion and role_on(reviewer, flag.site) != Role.ADMIN


def opinion_of(flag: Flag, reviewer: AbstractBaseUser) -> Opinion | None:
    return Opinion.objects.select_for_update().filter(flag=flag, reviewer=reviewer).first()


def majority(decisions: list[str]) -> str | None:
    """The decision that settles a flag: at least two reviewers, and more than the other."""
    counts = Counter(decisions).most_common()
    if not counts or counts[0][1] < 2:
        return None
    if len(counts) > 1 and counts[1][1] == counts[0][1]:
        return None
    return counts[0][0]


def give_opinion(
    *, flag: Flag, reviewer: AbstractBaseUser, decision: str, note: str = ""
) -> str | None:
    """Record ``reviewer``'s opinion; the decision that now settles the flag, or None.

    When it does not settle the flag the opinion is audited here (the flag waits for a
    second reviewer, or is disputed); when it does, the caller records the decision on the
    flag, audited and announced once, as any decision.
    """
    Opinion.objects.create(flag=flag, reviewer=reviewer, decision=decision, note=note.strip())
    decisions = list(Opinion.objects.filter(flag=flag).values_list("decision", flat=True))
    settled = majority(decisions)
    if settled is None:
        disputed = len(set(decisions)) > 1
        _audit(
            flag,
            reviewer,
            AuditAction.OPINION_GIVEN,
            f"{VERB[Decision(decision)]}; "
            + (
                "reviewers disagree: the flag is disputed"
                if disputed
                else "waits for a second opinion"
            ),
            decision=decision,
            disputed=disputed,
        )
    return settled


def withdraw_opinion(*, opinion: Opinion, flag: Flag) -> bool:
    """Take back an opinion; whether the flag's label must be undone with it.

    A label that opinions settled is undone when the ones left no longer settle it; one
    an admin settled stands.
    """
    decision = opinion.decision
    opinion.delete()
    _audit(
        flag,
        opinion.reviewer,
        AuditAction.OPINION_UNDONE,
        f"undid their opinion ({decision})",
        decision=decision,
    )
    if flag.status not in (FlagStatus.CONFIRMED, FlagStatus.REJECTED):
        return False
    left = list(Opinion.objects.filter(flag=flag).values_list("reviewer_id", "decision"))
    settled_by_opinions = flag.reviewer_id == opinion.reviewer_id or any(
        reviewer_id == flag.reviewer_id for reviewer_id, _ in left
    )
    if not settled_by_opinions:
        return False
    still = majority([d for _, d in left])
    if still is None or DECISION_STATUS[Decision(still)] != flag.status:
        return True
    if flag.reviewer_id == opinion.reviewer_id:  # the one who settled it withdrew
        Flag.objects.filter(pk=flag.pk).update(
            reviewer_id=next(r for r, d in reversed(left) if d == still)
        )
    return False
