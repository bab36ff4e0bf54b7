"""The only package with SQL: schema, engine/transactions and one repository module per aggregate."""
