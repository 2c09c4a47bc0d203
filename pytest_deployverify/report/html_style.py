"""The sign-off page's stylesheet (plain CSS, print-friendly) and its one small script."""

# Moves the block from inside pytest-html's summary to right under the page title, so the
# banner is the first thing a reader sees. Ids only; pytest-html's script finds its parts by id.
# ``report.html?dv-focus=performance`` shows only the banner and that section: a stable view
# for screenshots and for sharing one section (headless screenshots ignore #fragments).
MOVE_SCRIPT = (
    "(function(){var r=document.getElementById('dv-report');"
    "var t=document.getElementById('title');"
    "if(r&&t&&t.parentNode){t.parentNode.insertBefore(r,t.nextSibling);}"
    "var m=/[?&]dv-focus=([A-Za-z0-9_-]+)/.exec(window.location.search);"
    "var f=m&&document.getElementById(m[1]);"
    "if(f){f.classList.add('dv-focused');document.documentElement.classList.add('dv-focus');}"
    "})();"
)

CSS = """
.dv{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111;max-width:1200px;margin:0 0 24px 0}
.dv h2{border-bottom:2px solid #333;padding-bottom:4px;margin-top:28px}
.dv h3{margin:14px 0 4px 0;font-size:15px}
.dv-banner{border:6px solid #444;border-radius:6px;padding:14px 18px;margin:12px 0;background:#f4f4f4}
.dv-verdict-pass{border-color:#1a7f37;background:#e9f7ee}
.dv-verdict-fail{border-color:#b3261e;background:#fdecea;border-style:double;border-width:9px}
.dv-verdict-inconclusive{border-color:#9a6700;background:#fff6dc;border-style:dashed}
.dv-banner-head{display:flex;align-items:baseline;gap:24px;flex-wrap:wrap}
.dv-verdict-word{font-size:40px;font-weight:800;letter-spacing:2px}
.dv-recommendation{font-size:22px;font-weight:600}
.dv-reason{font-size:17px;margin:6px 0 10px 0}
.dv-identity{display:flex;gap:32px;flex-wrap:wrap}
.dv-id-block h3{margin:4px 0}
.dv-id-block dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
.dv-id-block dt{font-weight:600}
.dv-id-block dd{margin:0;word-break:break-all}
.dv-when{font-size:12px;color:#444;margin:8px 0 0 0}
.dv-nav ul{list-style:none;padding:0;display:flex;gap:14px;flex-wrap:wrap}
.dv-help{color:#333;font-style:italic;max-width:900px}
.dv-muted{color:#555;font-size:12px}
.dv-table{border-collapse:collapse;margin:6px 0 10px 0;width:100%}
.dv-table th,.dv-table td{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
.dv-table thead th{background:#e8e8e8}
.dv-table caption{text-align:left;font-weight:600;padding:4px 0}
.dv-table pre{margin:0;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto;font-size:12px}
.dv-diff td.dv-expected{background:#f0f6ff}
.dv-diff td.dv-observed-cell{background:#fff3f0}
.dv-state-fail .dv-state,.dv-state-error .dv-state{font-weight:800}
.dv-state-none .dv-state{font-style:italic}
.dv-tag{display:inline-block;padding:0 6px;border:1px solid #333;border-radius:3px;font-size:12px;font-weight:600}
.dv-tag-pass,.dv-tag-passed{background:#dff3e4}
.dv-tag-fail,.dv-tag-failed,.dv-tag-error{background:#b3261e;color:#fff;border-color:#b3261e}
.dv-tag-inconclusive{background:#fff0c2;border-style:dashed}
.dv-tag-skipped{background:#eee;border-style:dotted}
.dv-critical{font-size:11px;border:1px solid #000;padding:0 4px;text-transform:uppercase}
.dv-check,.dv-test{border-left:4px solid #bbb;padding:2px 10px;margin:10px 0}
.dv-outcome-fail,.dv-outcome-failed,.dv-outcome-error{border-left:6px double #b3261e}
.dv-outcome-inconclusive{border-left-style:dashed;border-left-color:#9a6700}
.dv-message{background:#fff3f0;border:1px solid #e0b4b0;padding:6px;white-space:pre-wrap;font-size:12px;max-height:300px;overflow:auto}
.dv-cid code{background:#eef;padding:0 3px}
.dv-replay-command{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:4px}
.dv-cid-link{margin-left:4px;font-size:12px}
tr.dv-bad td{background:#fdecea;font-weight:600}
.dv-timeline{display:flex;flex-wrap:wrap;list-style:none;padding:0;margin:4px 0;gap:0}
.dv-timeline li{border:1px solid #777;padding:2px 8px;margin:0 14px 4px 0;position:relative;background:#fafafa;font-size:12px}
.dv-timeline li:after{content:"\\2192";position:absolute;right:-13px;top:2px}
.dv-timeline li:last-child:after{content:""}
.dv-timeline li.dv-bad{border-width:2px;border-color:#b3261e}
.dv-status{font-weight:600;margin-right:6px}
.dv-at{color:#444}
.dv-figure{margin:10px 0}
.dv-figure svg{max-width:100%;height:auto;border:1px solid #ccc}
.dv-figure figcaption{font-size:12px;color:#333}
.dv-signoff{border:2px solid #333;padding:8px 16px;page-break-inside:avoid;break-inside:avoid}
.dv-totals{width:auto}
.dv-sha{word-break:break-all}
.dv-fields{display:grid;grid-template-columns:1fr 1fr;gap:18px 32px;margin:16px 0}
.dv-field label{font-weight:600;display:inline-block;min-width:90px}
.dv-line{display:inline-block;border-bottom:1px solid #000;min-width:260px;height:1.4em;vertical-align:bottom}
.dv-box{margin-right:18px;font-size:15px}
.dv-focus body>*:not(#dv-report):not(#title){display:none!important}
.dv-focus #dv-report>*:not(.dv-focused):not(#dv-banner){display:none!important}
@media print{
  .dv-noprint,.summary__reload,.controls,.filters,p.filter,#results-table .logexpander{display:none!important}
  .dv{max-width:none}
  .dv-banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .dv-section{break-inside:auto}
  .dv-check,.dv-test,.dv-figure,tr{break-inside:avoid;page-break-inside:avoid}
  .dv-signoff{break-before:page;page-break-before:always}
  .dv-table pre,.dv-message{max-height:none;overflow:visible}
  a[href^="http"]:after{content:" (" attr(href) ")";font-size:10px;word-break:break-all}
}
"""
