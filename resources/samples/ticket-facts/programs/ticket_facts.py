"""Ticket triage in two stages, written the way a DSPy user writes a program.

First pull the key facts out of a support ticket (which product, what went wrong, whether money
is involved), then classify the ticket from those facts. Plain Python between the two calls
turns the facts into one short line, so the classifier reads a summary, not the raw ticket.

Use it in DSPy Workbench:

    dspy-workbench program set DIR --python ticket_facts.py:TicketTriage
"""

from typing import Literal

import dspy

Category = Literal["billing", "shipping", "account", "product_defect", "how_to"]


class ExtractFacts(dspy.Signature):
    """Read a customer-support ticket and note its key facts in a few words each."""

    ticket: str = dspy.InputField(desc="the customer's message")
    product: str = dspy.OutputField(desc="the product or service the ticket is about")
    problem: str = dspy.OutputField(desc="what went wrong or what the customer asks, in a few words")
    money_involved: bool = dspy.OutputField(desc="does the ticket mention a charge, refund or payment?")


class ClassifyTicket(dspy.Signature):
    """Give the support queue that should handle the ticket, from its key facts."""

    facts: str = dspy.InputField(desc="the ticket's key facts")
    category: Category = dspy.OutputField(desc="the queue for this ticket")


def summarize(product: str, problem: str, money_involved: bool) -> str:
    money = "; money is involved" if money_involved else ""
    return f"product: {product}; problem: {problem}{money}"


class TicketTriage(dspy.Module):
    def __init__(self):
        super().__init__()
        self.extract = dspy.Predict(ExtractFacts)
        self.classify = dspy.Predict(ClassifyTicket)

    def forward(self, ticket):
        facts = self.extract(ticket=ticket)
        summary = summarize(facts.product, facts.problem, facts.money_involved)
        decision = self.classify(facts=summary)
        return dspy.Prediction(category=decision.category, facts=summary)
