-- End the export's read-only snapshot.
COMMIT
