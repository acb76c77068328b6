"""What the demo's buyers and sellers say about risks: templates with slots.

Each risk has lines a buyer might say on a call (plain and hedged), lines a seller posts
in the deal's Slack channel, and lines that mention the subject but say it is fine
(negated or resolved), which the generator mixes into healthy conversation. Slots:
``{competitor}``, ``{amount}``, ``{month}``, ``{person}``, ``{role}``, ``{weeks}``.
The detector never sees this file: the evaluation set and the unseen-phrasings test are
written apart from it.
"""

from __future__ import annotations

import numpy as np

COMPETITORS = ["Chartwell", "Metricly", "DataLoom", "Insightory", "Lumengrid", "Quantive"]
MONTHS = ["January", "February", "March", "April", "May", "June", "September", "October"]
PEOPLE = ["Dana", "Felix", "Ingrid", "Jonas", "Leila", "Mateo", "Noor", "Oskar", "Selma"]
ROLES = ["VP of Analytics", "Head of BI", "Director of RevOps", "CIO", "Data Platform Lead"]
AMOUNTS = ["$25k", "$40k", "$60k", "$80k", "$120k"]
WEEKS = ["two", "three", "four", "six", "eight"]

CALL_RISKS: dict[str, list[str]] = {
    "budget": [
        "Our finance people put a freeze on new software purchases until {month}.",
        "The {amount} we set aside for this was moved to another project.",
        "We don't have the budget for the full rollout this year.",
        "Our CFO wants every new contract cut by twenty percent before signing.",
        "Spending on tools is on hold after the last board meeting.",
        "Honestly the funding for this got slashed in the reforecast.",
    ],
    "competitor": [
        "{competitor} offered us something similar for about half of your price.",
        "We're also running a trial of {competitor} in parallel.",
        "Our team is comparing you with {competitor} before we decide.",
        "{competitor} came back with a quote well below yours.",
        "Some people here would rather build this in-house.",
        "We've invited {competitor} to present to the committee as well.",
    ],
    "legal": [
        "Our counsel wants changes to the liability clause before anything is signed.",
        "The MSA is stuck in legal review and they have a long queue.",
        "Legal objected to the data processing terms in your order form.",
        "Our lawyers sent back a lot of redlines on the contract.",
        "The indemnification language is a sticking point for our legal team.",
    ],
    "security": [
        "Our security team flagged gaps in the vendor questionnaire.",
        "InfoSec won't sign off until they get your SOC 2 report.",
        "The pen test results raised concerns with our CISO.",
        "Compliance is worried about where the data is hosted.",
        "Security review is still pending on our side, it's a blocker.",
    ],
    "timeline": [
        "The go-live will probably slip to {month} because of the migration.",
        "We need to push the kickoff back by {weeks} weeks.",
        "The project is on hold until after the reorganisation.",
        "Signing this quarter looks unlikely now.",
        "Our rollout got delayed, the data team is stretched thin.",
    ],
    "champion": [
        "{person}, who has been driving this, is leaving the company in {month}.",
        "Our sponsor was moved to another division last week.",
        "{person} resigned, so I'm taking over the evaluation.",
        "The {role} who championed this got let go in the restructuring.",
        "{person} is going on parental leave and nobody else knows the project well.",
    ],
}
CALL_HEDGED: dict[str, list[str]] = {
    "budget": ["Our budget might get cut again after the {month} review."],
    "competitor": ["We may look at {competitor} too before we commit."],
    "legal": ["Legal could have problems with the auto-renewal terms."],
    "security": ["I suspect security will have concerns about the SSO setup."],
    "timeline": ["The launch could slide if the integration takes longer than planned."],
    "champion": ["There are rumours {person} might be leaving soon."],
}
SLACK_RISKS: dict[str, list[str]] = {
    "budget": [
        "heads up: their budget got frozen, they're asking to split the deal",
        "customer says the {amount} PO is on hold, finance cut discretionary spend",
    ],
    "competitor": [
        "they're trialling {competitor} side by side with us, need a battlecard",
        "{competitor} undercut our quote, customer wants a discount",
    ],
    "legal": [
        "legal on their side pushed back on the liability cap again",
        "contract still stuck with their lawyers, 30+ redlines",
    ],
    "security": [
        "their infosec flagged a blocker in the security review, need SE help",
        "security questionnaire stalled, CISO wants a call",
    ],
    "timeline": [
        "close date slipping to {month}, kickoff postponed",
        "they asked to pause the rollout until next quarter",
    ],
    "champion": [
        "our champion {person} just resigned, need to find a new sponsor",
        "{person} moved to another team, lost our main advocate",
    ],
}
# The subject comes up, but it is fine: negated or resolved.
CALL_RESOLVED: dict[str, list[str]] = {
    "budget": [
        "The budget is approved, so money isn't a concern.",
        "Funding was secured last month.",
    ],
    "competitor": ["We're not evaluating anyone else at this point.", "We ruled out {competitor}."],
    "legal": [
        "Legal signed off on the MSA yesterday.",
        "Our counsel has no issues with the terms.",
    ],
    "security": ["Security cleared you last week.", "The pen test came back with no findings."],
    "timeline": ["We're still on track for a {month} go-live.", "No delays expected on our side."],
    "champion": ["{person} is staying on as our sponsor.", "Our champion isn't going anywhere."],
}
SLACK_RESOLVED = [
    "good news: budget approved for the full amount",
    "security review passed, no open items",
    "legal signed, MSA executed",
    "customer confirmed the close date, nothing slipping",
]


def fill(template: str, rng: np.random.Generator) -> str:
    """`template` with each slot filled by a choice of `rng` (deterministic for a seed)."""
    if "{" not in template:
        return template
    return template.format(
        competitor=COMPETITORS[rng.integers(len(COMPETITORS))],
        month=MONTHS[rng.integers(len(MONTHS))],
        person=PEOPLE[rng.integers(len(PEOPLE))],
        role=ROLES[rng.integers(len(ROLES))],
        amount=AMOUNTS[rng.integers(len(AMOUNTS))],
        weeks=WEEKS[rng.integers(len(WEEKS))],
    )


def risk_line(risk: str, rng: np.random.Generator, *, hedge_p: float = 0.2) -> str:
    """A buyer's line raising `risk` on a call (hedged with probability `hedge_p`)."""
    bank = CALL_HEDGED[risk] if rng.random() < hedge_p else CALL_RISKS[risk]
    return fill(bank[rng.integers(len(bank))], rng)


def resolved_line(rng: np.random.Generator) -> str:
    """A buyer's line that names a risk's subject and says it is fine."""
    risk = list(CALL_RESOLVED)[rng.integers(len(CALL_RESOLVED))]
    bank = CALL_RESOLVED[risk]
    return fill(bank[rng.integers(len(bank))], rng)


def slack_risk_line(risk: str, rng: np.random.Generator) -> str:
    """A seller's Slack message reporting `risk`."""
    bank = SLACK_RISKS[risk]
    return fill(bank[rng.integers(len(bank))], rng)


def slack_resolved_line(rng: np.random.Generator) -> str:
    """A seller's Slack message saying a subject is settled."""
    return SLACK_RESOLVED[rng.integers(len(SLACK_RESOLVED))]
