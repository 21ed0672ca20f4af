/* Simulation pages (webui/templates/simulation/): the new-run form shows the fields of the chosen editing mode;
   the run page polls status.json while the run is queued or running, then draws the report's charts (Chart.js,
   /static/vendor/chart.umd.min.js) and the waiting-time heatmap on the process diagram (bpmn-js) from result.json.
   No inline script; without JavaScript the form shows both modes and the report's tables hold every number. */
(function () {
  'use strict';
  var POLL_MS = 2000;
  var READABLE = 0.6;  // the smallest zoom at which the diagram's labels can be read
  var HEAT = ['#e8f5e9', '#fff9c4', '#ffe082', '#ffb74d', '#ff7043', '#d32f2f'];

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ': ' + r.status); }
      return r.json();
    });
  }

  // -- the new-run form: form fields or the raw editor --------------------------------------------------------
  var modeRadios = document.querySelectorAll('input[name="mode"]');
  if (modeRadios.length) {
    var formPart = document.querySelector('.sim-form-mode');
    var rawPart = document.querySelector('.sim-raw-mode');
    var showMode = function () {
      var raw = document.querySelector('input[name="mode"][value="raw"]').checked;
      formPart.hidden = raw;
      rawPart.hidden = !raw;
    };
    var unshown = document.getElementById('sim-unshown');
    [].forEach.call(modeRadios, function (radio) {
      radio.addEventListener('change', function () {
        showMode();
        // a stored run holds settings the form cannot: say so right at the switch, before anything is submitted
        if (unshown && radio.value === 'form' && radio.checked) {
          unshown.scrollIntoView({ block: 'center' });
          unshown.focus();
        }
      });
    });
    showMode();
    // the form mode of such a run drops those settings: not without the tick beside their list (the server
    // refuses it too, keeping everything typed)
    var discard = document.getElementById('f-discard_unshown');
    var discardNeeded = document.getElementById('sim-discard-needed') ||
      document.getElementById('err-discard_unshown');  // the server's, when it refused the form without it
    var newForm = discard && discard.form;
    if (newForm && discardNeeded) {
      newForm.addEventListener('submit', function (event) {
        if (!document.querySelector('input[name="mode"][value="raw"]').checked && !discard.checked) {
          event.preventDefault();
          discardNeeded.hidden = false;
          discard.setAttribute('aria-invalid', 'true');
          discard.setAttribute('aria-describedby', discardNeeded.id);
          discard.focus();
        }
      });
      discard.addEventListener('change', function () {
        if (discard.checked) {
          discardNeeded.hidden = true;
          discard.removeAttribute('aria-invalid');
        }
      });
    }
  }

  // 载入模板 keeps the name and replications typed so far (the server keeps a name only when it was typed)
  var chooser = document.getElementById('sim-template');
  var runForm = document.querySelector('form.sim-form');
  if (chooser && runForm) {
    chooser.addEventListener('submit', function () {
      ['name', 'replications'].forEach(function (key) {
        var typed = runForm.querySelector('[name="' + key + '"]');
        var carried = chooser.querySelector('input[name="typed_' + key + '"]');
        if (typed && carried) {
          carried.value = typed.value;
          carried.disabled = false;
        }
      });
    });
  }

  // -- the run page: live progress ----------------------------------------------------------------------------
  var progressBox = document.getElementById('sim-progress');
  if (progressBox && window.fetch && !progressBox.hidden) {
    var bar = progressBox.querySelector('progress');
    var percent = progressBox.querySelector('.sim-percent');
    var badge = document.getElementById('sim-status');
    var stalled = document.getElementById('sim-stalled');
    var remaining = document.getElementById('sim-remaining');
    var poll = function () {
      getJson(progressBox.dataset.statusUrl).then(function (state) {
        bar.value = state.progress;
        if (stalled) {  // the worker died: its lease expired, another worker will take the run over
          stalled.hidden = !state.stalled;
          if (state.stalled_label) { stalled.textContent = state.stalled_label; }
        }
        percent.textContent = Math.round(state.progress * 100) + '%';
        if (remaining) {  // 预计还需约 …, once the run has done enough to go by
          remaining.hidden = !state.remaining_label;
          remaining.textContent = state.remaining_label || '';
        }
        badge.textContent = state.status_label;
        badge.className = 'badge sim-status-' + state.status;
        if (state.status !== 'queued' && state.status !== 'running') {
          window.location.reload();  // the report (or the error) is rendered by the server
          return;
        }
        window.setTimeout(poll, POLL_MS);
      }).catch(function () { window.setTimeout(poll, POLL_MS * 5); });
    };
    window.setTimeout(poll, POLL_MS);
  }

  // -- the report: charts -------------------------------------------------------------------------------------
  var charts = document.getElementById('sim-charts');
  var resultPromise = null;
  function result(url) {
    if (!resultPromise) { resultPromise = getJson(url); }
    return resultPromise;
  }

  function datasets(series, labels) {
    var colours = { base: '#0b5cad', variant: '#e67e22' };
    return ['base', 'variant'].filter(function (side) { return series[side]; }).map(function (side) {
      return { label: labels[side], data: series[side], backgroundColor: colours[side], borderColor: colours[side] };
    });
  }

  function percentAxis() {
    return { beginAtZero: true, max: 1, ticks: { callback: function (v) { return Math.round(v * 100) + '%'; } } };
  }

  function drawCharts(data) {
    window.Chart.defaults.animation = false;  // figures to read, not to watch (and steady for screenshots)
    var labels = { base: charts.dataset.baseLabel, variant: charts.dataset.variantLabel };
    var c = data.charts;
    var edges = c.cycle_time.edges || [];
    new window.Chart(document.getElementById('chart-cycle'), {
      type: 'bar',
      data: { labels: edges.slice(0, -1).map(function (e, i) { return e.toFixed(0) + '–' + edges[i + 1].toFixed(0); }),
        datasets: datasets(c.cycle_time, labels) },
      options: { maintainAspectRatio: false, scales: { y: percentAxis() } }
    });
    var onTime = document.getElementById('chart-ontime');
    onTime.parentNode.style.height = Math.max(280, 34 * c.on_time_steps.labels.length + 60) + 'px';
    new window.Chart(onTime, {
      // a step never on time (0 %) shows a sliver: an empty row reads as "no data" (a step without any is null)
      type: 'bar', data: { labels: c.on_time_steps.labels, datasets: datasets(c.on_time_steps, labels).map(
        function (set) { set.minBarLength = 3; return set; }) },
      options: { indexAxis: 'y', maintainAspectRatio: false, scales: { x: percentAxis(), y: { ticks: { autoSkip: false } } } }
    });
    var poolLabels = JSON.parse(charts.dataset.poolLabels || '{}');
    var poolName = function (pool) { return poolLabels[pool] || pool; };
    var poolNames = c.utilisation.pools.map(poolName);
    new window.Chart(document.getElementById('chart-utilisation'), {
      type: 'bar', data: { labels: poolNames, datasets: datasets(c.utilisation, labels) },
      options: { maintainAspectRatio: false, scales: { y: percentAxis() } }
    });
    var palette = ['#0b5cad', '#2e7d32', '#c62828', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037', '#546e7a'];
    // one colour per pool; the variant (when compared) dashed, on the same day axis
    var queueLines = [];
    ['base', 'variant'].filter(function (side) { return c.queues[side]; }).forEach(function (side) {
      c.queues.pools.forEach(function (pool, i) {
        if (!c.queues[side][pool]) { return; }  // a pool that never queued on this side: no line, as in a run of its own
        queueLines.push({ label: c.queues.variant ? labels[side] + ' · ' + poolName(pool) : poolName(pool),
          data: c.queues[side][pool] || [], borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length], borderDash: side === 'variant' ? [6, 4] : [],
          pointRadius: 0, tension: 0.2, spanGaps: false });
      });
    });
    var queueCanvas = document.getElementById('chart-queues');
    // room for the legend (a line per pool and side) below a plot that stays readable
    queueCanvas.parentNode.style.height = Math.max(300, 260 + 12 * queueLines.length) + 'px';
    new window.Chart(queueCanvas, {
      type: 'line',
      data: { labels: c.queues.days, datasets: queueLines },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 18, boxHeight: 2, font: { size: 11 } } } } }
    });
  }

  if (charts && window.fetch) {
    if (typeof window.Chart !== 'function') {
      charts.querySelector('.sim-chart-grid').hidden = true;
      charts.querySelector('.sim-no-charts').hidden = false;
    } else {
      result(charts.dataset.resultUrl).then(drawCharts).catch(function (error) {
        if (window.console) { window.console.warn('simulation charts:', error); }
      });
    }
  }

  // -- the report: waiting-time heatmap on the diagram --------------------------------------------------------
  var diagram = document.getElementById('sim-diagram');
  if (diagram && window.fetch && typeof window.BpmnJS === 'function') {
    var box = diagram.parentElement;
    var legend = document.querySelector('.sim-legend');
    Promise.all([
      fetch(diagram.dataset.xmlUrl, { credentials: 'same-origin' }).then(function (r) {
        if (!r.ok) { throw new Error('diagram: ' + r.status); }
        return r.text();
      }),
      result(diagram.dataset.resultUrl)
    ]).then(function (loaded) {
      box.hidden = false;
      var viewer = new window.BpmnJS({ container: diagram });
      return viewer.importXML(loaded[0]).then(function () {
        var heat = (loaded[1].sides[diagram.dataset.side || 'base'] || {}).heatmap || {};
        var registry = viewer.get('elementRegistry');
        var overlays = viewer.get('overlays');
        var max = 0;
        Object.keys(heat).forEach(function (id) { max = Math.max(max, heat[id].mean_waiting_hours); });
        Object.keys(heat).forEach(function (id) {
          var element = registry.get(id);
          if (!element) { return; }
          var hours = heat[id].mean_waiting_hours;
          // work still waiting at the stop counts up to it: the figure is a lower bound, marked † (as the table)
          var open = heat[id].open > 0;
          // square-root scale: a few very long waits must not wash every other step out to the lowest colour
          var level = max > 0 ? Math.min(HEAT.length - 1, Math.floor(Math.sqrt(hours / max) * HEAT.length)) : 0;
          var gfx = registry.getGraphics(element);
          var shape = gfx && gfx.querySelector('.djs-visual > :first-child');
          if (shape) { shape.style.fill = HEAT[level]; }
          var text = diagram.dataset.hoursLabel.replace('{h}', hours.toFixed(1));
          var title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
          title.textContent = heat[id].name + ' — ' + text + (open ? ' ' + diagram.dataset.openLabel : '');
          gfx.appendChild(title);
          var badge = document.createElement('span');
          badge.className = 'sim-heat-badge';
          badge.textContent = hours.toFixed(1) + ' h' + (open ? ' †' : '');
          badge.title = title.textContent;
          overlays.add(element, { position: { bottom: 0, right: 0 }, html: badge });
        });
        var canvas = viewer.get('canvas');
        var hottest = Object.keys(heat).filter(function (id) { return registry.get(id); }).sort(function (a, b) {
          return heat[b].mean_waiting_hours - heat[a].mean_waiting_hours;
        })[0];
        var showHottest = function () {
          var focus = registry.get(hottest), outer = canvas.viewbox().outer;
          var width = outer.width / READABLE, height = outer.height / READABLE;
          canvas.viewbox({ x: focus.x + focus.width / 2 - width / 2, y: focus.y + focus.height / 2 - height / 2,
            width: width, height: height });
          box.scrollLeft = Math.max(0, (outer.width - box.clientWidth) / 2);  // narrow screens: to the step
        };
        canvas.zoom('fit-viewport', 'auto');
        // The whole process is too small to read when fitted: show the longest wait readably instead; the
        // toolbar's 全图 shows the whole process again (drag to pan, wheel to zoom; the table below has every
        // step as text).
        if (hottest && canvas.zoom() < READABLE) { showHottest(); }
        if (window.bzDiagramTools) { window.bzDiagramTools(diagram, canvas, hottest ? showHottest : null); }
        if (legend) {
          legend.querySelector('.sim-legend-max').textContent = '(0 – ' + max.toFixed(1) + ' h)';
          legend.hidden = false;
        }
      });
    }).catch(function (error) {
      box.hidden = true;
      if (window.console) { window.console.warn('simulation heatmap:', error); }
    });
  }
}());
