"""Budget alerts on the environment's billing account: the whole project's, and per team (by the
`team` label)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_google.billing_budget import (
    BillingBudget,
    BillingBudgetAllUpdatesRule,
    BillingBudgetAmount,
    BillingBudgetAmountSpecifiedAmount,
    BillingBudgetBudgetFilter,
    BillingBudgetThresholdRules,
)
from constructs import Construct

from environments.schema import Budget

THRESHOLDS = (0.5, 0.9, 1.0)
# The platform's budget follows last month's spend of the whole project (Google's "last period
# amount", cloud.google.com/billing/docs/how-to/budgets#budget-amount): the environment files hold
# no amount for it, and an idle platform's cost is what the last month says. Alerts when this month
# reaches last month's spend, and when it is half as much again.
PLATFORM_THRESHOLDS = (1.0, 1.5)


@dataclass(frozen=True)
class Billing:
    """Where an environment's budgets live and whom they alert: its billing account, its project's
    number (budgets are scoped by number) and the notification channels beside the billing admins."""

    account: str
    project_number: str
    channels: list[str]


def _project_budget(
    scope: Construct,
    *,
    billing: Billing,
    name: str,
    amount: BillingBudgetAmount,
    thresholds: tuple[float, ...],
    labels: dict[str, str] | None = None,
) -> BillingBudget:
    """A monthly budget on this environment's project (resources with `labels` only, when given),
    alerting at `thresholds` the billing admins and the billing's channels."""
    return BillingBudget(
        scope,
        "budget",
        billing_account=billing.account,
        display_name=name,
        budget_filter=BillingBudgetBudgetFilter(
            projects=[f"projects/{billing.project_number}"], labels=labels, calendar_period="MONTH"
        ),
        amount=amount,
        threshold_rules=[BillingBudgetThresholdRules(threshold_percent=t) for t in thresholds],
        all_updates_rule=BillingBudgetAllUpdatesRule(monitoring_notification_channels=billing.channels or None),
    )


class TeamBudget(Construct):
    """Alerts at 50 %, 90 % and 100 % of a team's monthly amount, counting only resources of this
    environment's project labelled `team=<name>`, to the billing admins and the billing's channels."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        team: str,
        budget: Budget,
        environment: str,
        billing: Billing,
    ) -> None:
        super().__init__(scope, id)
        units, fraction = divmod(budget.monthly_amount, 1)
        amount = BillingBudgetAmount(
            specified_amount=BillingBudgetAmountSpecifiedAmount(
                currency_code=budget.currency, units=str(int(units)), nanos=round(fraction * 1e9)
            )
        )
        _project_budget(
            self,
            billing=billing,
            name=f"{environment} team {team}",
            amount=amount,
            thresholds=THRESHOLDS,
            labels={"team": team},
        )


class PlatformBudget(Construct):
    """Alerts when the project's spend this month (every service, every label) reaches 100 % and
    150 % of last month's, to the billing admins and the billing's channels."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environment: str,
        billing: Billing,
    ) -> None:
        super().__init__(scope, id)
        _project_budget(
            self,
            billing=billing,
            name=f"{environment} platform",
            amount=BillingBudgetAmount(last_period_amount=True),
            thresholds=PLATFORM_THRESHOLDS,
        )
