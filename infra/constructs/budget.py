"""Budget alerts on the environment's billing account, per team (by the `team` label)."""

from __future__ import annotations

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


class TeamBudget(Construct):
    """Alerts at 50 %, 90 % and 100 % of a team's monthly amount, counting only resources of this
    environment's project labelled `team=<name>`, to the billing admins and `channels`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        team: str,
        budget: Budget,
        billing_account: str,
        project_number: str,
        environment: str,
        channels: list[str],
    ) -> None:
        super().__init__(scope, id)
        units, fraction = divmod(budget.monthly_amount, 1)
        self.budget = BillingBudget(
            self,
            "budget",
            billing_account=billing_account,
            display_name=f"{environment} team {team}",
            budget_filter=BillingBudgetBudgetFilter(
                projects=[f"projects/{project_number}"], labels={"team": team}, calendar_period="MONTH"
            ),
            amount=BillingBudgetAmount(
                specified_amount=BillingBudgetAmountSpecifiedAmount(
                    currency_code=budget.currency, units=str(int(units)), nanos=round(fraction * 1e9)
                )
            ),
            threshold_rules=[BillingBudgetThresholdRules(threshold_percent=t) for t in THRESHOLDS],
            all_updates_rule=BillingBudgetAllUpdatesRule(monitoring_notification_channels=channels or None),
        )
