/* Case page: the process diagram (bpmn-js navigated viewer, served from node_modules at /static/vendor/) with the
   case's completed, active, overdue and failed (a service task waiting for its retry, or an incident) steps marked.
   No inline script; the step list below stays as the text alternative, and the diagram stays hidden when the viewer
   or the data cannot be loaded. */
(function () {
  'use strict';
  var container = document.getElementById('diagram');
  if (!container || typeof window.BpmnJS !== 'function' || !window.fetch) { return; }
  var box = container.parentElement;
  var legend = document.querySelector('.diagram-legend');
  var READABLE = 0.5;  // the smallest zoom at which labels can still be read

  function fetchOk(url, kind) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: kind } }).then(function (response) {
      if (!response.ok) { throw new Error(url + ': ' + response.status); }
      return kind === 'application/json' ? response.json() : response.text();
    });
  }

  Promise.all([
    fetchOk(container.dataset.xmlUrl, 'application/xml'),
    fetchOk(container.dataset.stateUrl, 'application/json')
  ]).then(function (loaded) {
    box.hidden = false;  // the viewer measures its container: show it before importing
    var viewer = new window.BpmnJS({ container: container });
    return viewer.importXML(loaded[0]).then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      var state = loaded[1];
      function mark(ids, marker) {
        (ids || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, marker); }  // ids of called processes are not drawn here
        });
      }
      mark(state.completed, 'done');
      mark(state.active, 'active');
      mark(state.overdue, 'overdue');
      mark(state.failed, 'failed');
      registry.filter(function (element) {  // a finished stage (expanded subprocess) gets a lighter fill
        return element.businessObject && element.businessObject.$type === 'bpmn:SubProcess' && !element.collapsed;
      }).forEach(function (element) { canvas.addMarker(element, 'stage'); });
      canvas.zoom('fit-viewport', 'auto');
      // The whole process fits, but is too small to read on most screens: then show the current step readably
      // (drag to pan, wheel or pinch to zoom; the step list below has it all as text).
      var focus = [].concat(state.failed || [], state.overdue || [], state.active || []).map(function (id) {
        return registry.get(id);
      }).filter(Boolean)[0];
      var showFocus = function () {
        var outer = canvas.viewbox().outer;
        var width = outer.width / READABLE, height = outer.height / READABLE;
        // the current step two thirds across, so that the steps before it show too
        canvas.viewbox({ x: focus.x + focus.width / 2 - width * 2 / 3, y: focus.y + focus.height / 2 - height / 2,
          width: width, height: height });
        box.scrollLeft = Math.max(0, outer.width * 2 / 3 - box.clientWidth / 2);  // narrow screens: to the step
      };
      if (focus && canvas.zoom() < READABLE) { showFocus(); }
      // the toolbar's 全图 shows the whole process again, 当前环节 the step (templates/_diagram_tools.html)
      if (window.bzDiagramTools) { window.bzDiagramTools(container, canvas, focus ? showFocus : null); }
      if (legend) { legend.hidden = false; }
    });
  }).catch(function (error) {
    box.hidden = true;
    if (window.console) { window.console.warn('case diagram:', error); }
  });
}());
