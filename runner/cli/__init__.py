"""The command line. Only this package prints; everything below it logs or raises."""
