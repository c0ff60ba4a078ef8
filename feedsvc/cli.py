"""The composition root: parses the command line, builds everything, wires it, runs it.

No business logic lives here: each command builds the parts the stages need
and hands them over (see ``feedsvc.service`` for the long-running daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from feedsvc.config import explain, load_settings
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.logsetup import configure_logging

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedsvc", description="Full-text feed republisher")
    parser.add_argument(
        "--log-level", default=os.environ.get("FEEDSVC_LOG_LEVEL") or "INFO",
        help="DEBUG, INFO, WARNING or ERROR (default $FEEDSVC_LOG_LEVEL or INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon: scheduler and HTTP server until SIGTERM/SIGINT")
    run.add_argument("--config", help="config file (default: $FEEDSVC_CONFIG or config/feedsvc.yaml)")

    scrape = commands.add_parser("scrape", help="refresh every section (or one) once, then exit")
    scrape.add_argument("--config", help="config file")
    scrape.add_argument("--section", action="append", metavar="SITE/SECTION", help="only this section (repeatable)")

    extract = commands.add_parser("extract", help="extract and clean one page and print the result")
    extract.add_argument("source", metavar="FILE_OR_URL")
    extract.add_argument("--url", help="the page's address when reading a file")
    extract.add_argument("--rules", help="rule file name to use (default: matched by host)")
    extract.add_argument("--config", help="config file (for its rule folders and fetch settings)")
    extract.add_argument("--format", choices=("text", "html", "json"), default="text")

    check = commands.add_parser("check-config", help="validate a config file and explain it")
    check.add_argument("path", nargs="?", help="config file")

    rules = commands.add_parser("rules", help="site rule tools")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="RULES_COMMAND")
    rules_check = rules_commands.add_parser("check", help="load every rule file and report problems")
    rules_check.add_argument("dirs", nargs="+", metavar="DIR")
    rules_test = rules_commands.add_parser("test", help="run rule files' test_url/test_contains checks")
    rules_test.add_argument("target", nargs="?", metavar="HOST|FILE", help="a rule file, a host or a rule name (default: all)")
    rules_test.add_argument("--pages", metavar="DIR", help="saved pages (DIR/pages.json maps URLs to files); default: fetch")
    rules_test.add_argument("--rules-dir", action="append", metavar="DIR", help="rule folder (repeatable; default: the config's)")
    rules_test.add_argument("--config", help="config file (for its rule folders and fetch settings)")

    reextract = commands.add_parser("reextract", help="re-extract stored stories from their stored pages (no fetching)")
    reextract.add_argument("--config", help="config file")
    reextract.add_argument("--site", action="append", metavar="SITE", help="only this site (repeatable)")
    reextract.add_argument("--all", action="store_true", help="every stored page, not only those whose rule file changed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        if args.command == "check-config":
            return _check_config(args.path)
        if args.command == "rules" and args.rules_command == "test":
            return asyncio.run(_rules_test(args))
        if args.command == "rules":
            return _rules_check(args.dirs)
        if args.command == "reextract":
            return _reextract(args)
        if args.command == "extract":
            return asyncio.run(_extract(args))
        if args.command == "scrape":
            from feedsvc.service import scrape_once

            settings = load_settings(args.config)
            return asyncio.run(scrape_once(settings, args.section, progress=sys.stderr.isatty()))
        if args.command == "run":
            from feedsvc.service import run_daemon

            settings = load_settings(args.config)
            return asyncio.run(run_daemon(settings))
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except FeedsvcError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _check_config(path: str | None) -> int:
    settings = load_settings(path)
    from feedsvc.rules.book import RuleBook

    book = RuleBook.load(settings.rules_dirs)
    print(explain(settings))
    missing = [site.rules for site in settings.sites if site.rules and book.by_name(site.rules) is None]
    for name in missing:
        print(f"  problem: rule file {name!r} is not in any rule folder ({', '.join(settings.rules_dirs)})")
    return 1 if missing else 0


def _rules_check(dirs: Sequence[str]) -> int:
    from feedsvc.rules.check import check_dirs, format_report

    report = check_dirs([Path(d) for d in dirs])
    print(format_report(report))
    return 0 if report.failed == 0 else 1


def _reextract(args: argparse.Namespace) -> int:
    from feedsvc.pipeline import extract_page
    from feedsvc.reextract import reextract_command
    from feedsvc.service import cpu_pool

    settings = load_settings(args.config)
    pool = cpu_pool()
    try:
        return asyncio.run(reextract_command(settings, pool, extract_page, sites=args.site, everything=args.all))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def _rules_test(args: argparse.Namespace) -> int:
    from feedsvc.models import FetchSettings
    from feedsvc.ruletest import format_results, rules_test

    try:
        settings = load_settings(args.config)
    except ConfigError:
        if args.config:
            raise
        settings = None  # no config: the bundled rules, default fetch settings
    dirs = args.rules_dir or (list(settings.rules_dirs) if settings else ["config/rules"])
    fetch = settings.fetch if settings else FetchSettings()
    results, problems = await rules_test(args.target, dirs, pages_dir=args.pages, fetch_settings=fetch)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(format_results(results))
    return 0 if results and all(result.passed for result in results) else 1


async def _extract(args: argparse.Namespace) -> int:
    from feedsvc.service import extract_one

    article = await extract_one(args.source, page_url=args.url, rules_name=args.rules, config_path=args.config)
    if args.format == "json":
        print(json.dumps(asdict(article), default=str, ensure_ascii=False, indent=2))
    elif args.format == "html":
        print(article.body_html)
        for companion in article.companions:
            print(f"<!-- companion story: {companion.title} -->\n{companion.body_html}")
    else:
        print(_as_text(article))
    return 0


def _as_text(article: object) -> str:
    from feedsvc.clean import text_of
    from feedsvc.models import Article

    assert isinstance(article, Article)
    lines = [article.title]
    meta = [part for part in (article.author and f"By {article.author}", article.place, article.agency, article.published_day and str(article.published_day)) if part]
    if meta:
        lines.append(" | ".join(str(m) for m in meta))
    lines += ["", text_of(article.body_html)]
    for companion in article.companions:
        lines += ["", f"== companion story: {companion.title} ({companion.place}, {companion.agency}, {companion.published_day})", text_of(companion.body_html)]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
