"""Services that compose cards and transports: `mynasim serve` and its control endpoint."""
