"""The demo data's names and everyday lines (companies, people, stages, calls, Slack, Linear)."""

from __future__ import annotations

INDUSTRIES = [
    "Retail",
    "Fintech",
    "Healthcare",
    "Logistics",
    "Manufacturing",
    "Media",
    "SaaS",
    "Energy",
    "Insurance",
    "Education",
]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
ADJ = [
    "Blue",
    "North",
    "Bright",
    "Iron",
    "Silver",
    "Quantum",
    "Rapid",
    "Green",
    "Summit",
    "Atlas",
    "Nova",
    "Harbor",
    "Crimson",
    "Cedar",
    "Pioneer",
    "Vertex",
]
NOUN = [
    "Peak",
    "River",
    "Forge",
    "Labs",
    "Works",
    "Systems",
    "Analytics",
    "Dynamics",
    "Logic",
    "Cloud",
    "Data",
    "Bridge",
    "Signal",
    "Path",
    "Stack",
    "Grid",
]
SUFFIX = ["Inc", "LLC", "GmbH", "Ltd", "Corp", "Group"]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Diego",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Marco",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = [
    "Ng",
    "Silva",
    "Okafor",
    "Muller",
    "Rossi",
    "Kim",
    "Novak",
    "Haddad",
    "Berg",
    "Costa",
    "Ito",
    "Patel",
    "Moreau",
    "Lund",
    "Duarte",
    "Walsh",
]
TITLES = [
    "VP Sales",
    "CTO",
    "Head of Data",
    "Procurement Lead",
    "CFO",
    "IT Director",
    "Analytics Manager",
    "COO",
]
REPS = ["alex.rep", "sam.rep", "jordan.rep", "casey.rep", "morgan.rep", "riley.rep"]
STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]
STAGE_P = [0.14, 0.2, 0.2, 0.16, 0.14, 0.09, 0.07]
CALL_TITLES = [
    "Discovery call",
    "Product demo",
    "Technical deep dive",
    "Pricing review",
    "Security review",
    "Executive sync",
    "Onboarding planning",
    "Renewal check-in",
]
REP_LINES = [
    "Thanks for joining, let's walk through the dashboards your team asked about.",
    "Here is how the connector syncs your warehouse every fifteen minutes.",
    "I can share the case study from a similar rollout next week.",
    "Let's agree on the success criteria for the pilot.",
    "Our implementation team can start right after signature.",
    "I'll send over the updated proposal with the volume discount.",
]
CUSTOMER_LINES = [
    "The reporting workflow looks like exactly what our analysts need.",
    "We like the forecasting view, it saves us a weekly spreadsheet.",
    "Our data team wants to see the API documentation.",
    "Can you integrate with our existing single sign-on?",
    "The pilot results were strong for the finance team.",
    "We'd like to expand to the operations group next quarter.",
]
MSG_LINES = [
    "Shared the updated deck in the drive folder.",
    "Customer confirmed the demo for Thursday.",
    "Pilot metrics look good so far.",
    "Sent the order form for review.",
    "Notes from today's call are in the CRM.",
    "They loved the new forecasting feature.",
]
MSG_QUESTIONS = [
    "Has anyone heard back from their procurement team?",
    "Can someone from solutions join the security call?",
    "Do we have a reference customer in their industry?",
    "Who owns the follow-up on the pricing question?",
    "Is the SSO integration on the roadmap for this quarter?",
]
ISSUE_TITLES = [
    "SSO integration",
    "Custom connector",
    "Dashboard export to PDF",
    "Data residency in EU",
    "Usage-based billing report",
    "API rate limit increase",
    "Audit log retention",
    "Salesforce sync fix",
    "Onboarding checklist",
    "Forecast accuracy bug",
]
ISSUE_STATES = ["backlog", "todo", "in_progress", "in_review", "done", "canceled", "blocked"]
PROJECT_STATES = ["planned", "started", "paused", "completed"]
