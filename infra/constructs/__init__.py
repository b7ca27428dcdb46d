"""Constructs, one concern per module, each private and least-privileged unless told otherwise.

Access is granted by the resource being accessed (`bucket.grant_read(identity)`), so every role
string lives in exactly one method next to the resource it applies to.
"""
