"""The daily cycle's resources (environments' `cycle:`; pipelines/logic/cycle.py does the work).

- Where Composer is off, a Cloud Scheduler job fires the `daily` pipeline through the trigger
  once a day (`infra.deployed.cycle_schedule`); where it is on, Composer runs the DAG that `make deploy-dags`
  puts in its bucket, and there is no job (the day would run twice).
- With `cycle.bigquery_table`, a BigQuery dataset `cycle` holding an external table `forecasts`
  over the stored forecasts' parquet files (hive partitions origin= and version=), for SQL. The
  dataset uses the environment's CMEK key where there is one; the table holds no data of its own
  (BigQuery reads the parquet files in the data bucket, encrypted as the bucket is).
"""

from __future__ import annotations

from cdktn_provider_google.bigquery_dataset import BigqueryDataset, BigqueryDatasetDefaultEncryptionConfiguration
from cdktn_provider_google.bigquery_table import (
    BigqueryTable,
    BigqueryTableExternalDataConfiguration,
    BigqueryTableExternalDataConfigurationHivePartitioningOptions,
)
from cdktn_provider_google.data_google_bigquery_default_service_account import (
    DataGoogleBigqueryDefaultServiceAccount,
)
from constructs import Construct

from environments.schema import Environment
from infra.constructs.encryption import EncryptionKey
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.scheduler import ScheduledPipeline
from infra.deployed import cycle_schedule, schedule_job_id
from pipelines.logic.cycle_settings import daily_parameters
from pipelines.logic.cycle_store import FORECASTS, store_root

BIGQUERY_DATASET = "cycle"
BIGQUERY_TABLE = "forecasts"
BIGQUERY_API = "bigquery.googleapis.com"


class DailyCycle(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environment: Environment,
        trigger: CloudFunction,
        invoker: WorkloadIdentity,
        labels: dict[str, str],
        encryption_key: EncryptionKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        schedule = cycle_schedule(environment)
        self.job = (
            ScheduledPipeline(
                self,
                "schedule",
                name=schedule_job_id(environment.name, schedule.name),
                schedule=schedule,
                region=environment.region,
                trigger=trigger,
                invoker=invoker,
            )
            if schedule
            else None
        )
        self.table = None
        if environment.cycle.enabled and environment.cycle.bigquery_table:
            forecasts = f"{store_root(daily_parameters(environment)['registry_uri'])}/{FORECASTS}"
            dataset = BigqueryDataset(
                self,
                "dataset",
                dataset_id=BIGQUERY_DATASET,
                location=environment.region,
                description="The daily cycle's stored forecasts, for SQL",
                labels=labels,
                default_encryption_configuration=(
                    BigqueryDatasetDefaultEncryptionConfiguration(kms_key_name=encryption_key.id)
                    if encryption_key
                    else None
                ),
            )
            if encryption_key:
                # BigQuery encrypts with the key as its encryption service account
                # (cloud.google.com/bigquery/docs/customer-managed-encryption#grant_permission).
                agent = DataGoogleBigqueryDefaultServiceAccount(self, "bigquery-agent")
                encryption_key.grant_encrypt_decrypt(
                    Principal(member=f"serviceAccount:{agent.email}", grant_id="bigquery-agent")
                )
                encryption_key.encrypts(dataset)
            self.table = BigqueryTable(
                self,
                "forecasts",
                dataset_id=dataset.dataset_id,
                table_id=BIGQUERY_TABLE,
                description="Forecasts with their model version and origin (external: parquet in the data bucket)",
                labels=labels,
                deletion_protection=True,
                external_data_configuration=BigqueryTableExternalDataConfiguration(
                    source_format="PARQUET",
                    autodetect=True,
                    source_uris=[f"{forecasts}/*"],
                    hive_partitioning_options=BigqueryTableExternalDataConfigurationHivePartitioningOptions(
                        mode="AUTO", source_uri_prefix=f"{forecasts}/"
                    ),
                ),
            )
