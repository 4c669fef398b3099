"""The application layer: where the service is put together. The CLI (`app.cli`), the scheduler
(`app.scheduler`), the crawl child (`app.crawl`), the demo (`app.demo`) and `yuqing status`
(`app.status`) each build one `app.services.Services` per process from the validated config
(`app.settings`) and pass it down. Nothing in `crawlers/`, `alerts/`, `nlp/` or `yuqing/` imports
this package (import-linter contracts in setup.cfg, run by `make lint`)."""
