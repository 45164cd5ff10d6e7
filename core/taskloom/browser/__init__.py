"""Browser-only code (Pyodide). Nothing here is imported by `import taskloom`."""
