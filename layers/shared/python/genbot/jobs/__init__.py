"""Generation jobs: creation with its debit, the state machine, refunds, the queue."""
