"""Environments: `<name>.yaml` per environment and `teams/<team>.yaml` per team, and the config
model that reads them, split by job:

regions.py   the Google Cloud regions a platform can run in
schema.py    the strict pydantic models of the files
loading.py   finding and reading the files (`load_environment`): the only reader
naming.py    what an environment's resources are called (no pydantic: functions ship it)
messages.py  one line per problem, naming file, key, value and expectation
teams.py     `make onboard-team`, `offboard-team`, `teams`
"""
