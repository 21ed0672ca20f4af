/* The toolbar over a process diagram (templates/_diagram_tools.html): 全图 shows the whole process, the focus
   button shows again the place the page opened the diagram on (the current step, the longest wait), + and − zoom.
   A page calls window.bzDiagramTools(container, canvas, focus) once its bpmn-js viewer has drawn the diagram;
   focus is null where the page has no such place (the focus button stays hidden). */
(function () {
  'use strict';
  var STEP = 1.25;

  window.bzDiagramTools = function (container, canvas, focus) {
    var tools = document.querySelector('.diagram-tools[data-for="' + container.id + '"]');
    if (!tools) { return; }
    var actions = {
      fit: function () { canvas.zoom('fit-viewport', 'auto'); },
      focus: focus,
      'in': function () { canvas.zoom(canvas.zoom() * STEP); },
      out: function () { canvas.zoom(canvas.zoom() / STEP); }
    };
    [].forEach.call(tools.querySelectorAll('button[data-zoom]'), function (button) {
      var action = actions[button.dataset.zoom];
      button.hidden = !action;
      if (action) { button.addEventListener('click', function () { action(); }); }
    });
    tools.hidden = false;
  };
}());
