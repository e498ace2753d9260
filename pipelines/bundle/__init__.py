"""The city-bundle data contract (docs/data-contract.md): checks, validation, readers and shared writers."""
