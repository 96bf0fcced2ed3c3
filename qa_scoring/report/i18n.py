"""UI strings (one catalogue per language) and number / date formatting for the reports.

Every word the reports show comes from `CATALOGUES[lang]`; the two catalogues must have the same
keys (a test checks it). Strings are plain text: the templates escape them like any other value.
Percentages and scores go through `Formatter.pct` / `Formatter.score`, which never show 0 or 100
unless the value is exactly 0 or 100 (coverage.py's rule: a 99.96 % pass rate is not "100 %").
"""

from __future__ import annotations

import copy
import functools
import math
import re
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton
from babel.numbers import NumberPattern, parse_pattern
from babel.units import format_unit

LANGUAGES = ("es", "en")

ES: dict[str, str | dict[str, str]] = {
    "lang_name": "Español",
    "report_title": "Auditoría de calidad",
    "nav_index": "Resumen",
    "nav_rules": "Reglas",
    "nav_model": "Modelo",
    "period": "Periodo",
    "period_range": "{range} ({days})",
    "days_n": {"one": "{n} día", "other": "{n} días"},
    "interactions": "Interacciones",
    "agents": "Agentes",
    "scored": "Evaluadas por las reglas",
    "survey_coverage": "Con encuesta",
    "team_score": "Puntaje del equipo",
    "critical_fails": "Fallas críticas",
    "satisfaction": "Satisfacción (encuesta)",
    "predicted_risk": "Riesgo predicho",
    "trend": "Tendencia",
    "agent": "Agente",
    "score": "Puntaje",
    "score_ci": "Puntaje (IC 95 %)",
    "vs_team": "vs. equipo",
    "n_of": "n = {n}",
    "no_data": "sin datos",
    "no_interactions": "No hay interacciones en este periodo.",
    "agent_table": "Agentes, de peor a mejor",
    "agent_table_help": (
        "Orden: diferencia con el resto del equipo en la misma mezcla de skill y canal, ajustada por "
        "tamaño de muestra (contracción bayesiana empírica hacia la media del equipo). Un agente con "
        "pocas interacciones queda cerca del centro y lleva la marca «muestra pequeña»: su intervalo "
        "es ancho y su lugar en la tabla no es concluyente."),
    "small_sample": "muestra pequeña",
    "small_sample_help": {"one": "menos de {n} interacción evaluada", "other": "menos de {n} interacciones evaluadas"},
    "ci_help": "Intervalo de confianza del 95 %.",
    "ci95": "IC 95 %",
    "strip_help": "Barra: intervalo del 95 %; punto: puntaje; marca roja: el equipo en la misma mezcla.",
    "shrunk": "Diferencia ajustada",
    "rank": "#",
    "dq_title": "Calidad de los datos",
    "dq_help": "Antes de confiar en los puntajes: lo que llegó roto o incompleto.",
    "dq_in_period": "En el periodo",
    "dq_in_store": "En toda la base de datos (todos los periodos)",
    "dq_no_answer": "Interacciones sin respuesta del agente",
    "dq_bad_times": "Cierre anterior a la creación (tiempos imposibles)",
    "dq_not_scored": "Sin puntaje de reglas",
    "dq_no_prediction": "Sin predicción del modelo",
    "dq_survey_unreadable": "Encuestas con una respuesta que no se puede interpretar",
    "dq_quarantine": "Filas en cuarentena",
    "dq_duplicates": "Filas repetidas fusionadas",
    "dq_reason": "Motivo",
    "dq_count": "Filas",
    "dq_none": "Ninguna fila en cuarentena.",
    "agent_page_title": "Agente",
    "back_to_index": "← Resumen",
    "comparison_used": (
        "Comparación: este agente frente al resto del equipo en las mismas combinaciones de skill y "
        "canal, ponderadas por su propio volumen (una cola difícil no lo hace ver peor)."),
    "expected_same_mix": "Equipo en la misma mezcla",
    "difference": "Diferencia",
    "by_queue": "Por skill y canal",
    "skill": "Skill",
    "channel": "Canal",
    "team": "Equipo",
    "team_rest": "Resto del equipo",
    "rules_vs_team": "Reglas: tasa de cumplimiento frente al equipo",
    "rule": "Regla",
    "applicable": "Aplica",
    "pass_rate": "Cumple",
    "team_pass_rate": "Equipo (misma mezcla)",
    "trend_by_day": "Puntaje por día",
    "trend_legend_agent": "agente",
    "trend_legend_team": "equipo",
    "review_first": "Revisar primero",
    "review_help": (
        "Las interacciones que más merecen una revisión humana: fallas críticas, puntajes más bajos, "
        "riesgo predicho alto sin encuesta y desacuerdo entre reglas y modelo."),
    "review_none": "Nada que revisar en este periodo.",
    "reason_critical": "falla crítica",
    "reason_low_score": "puntaje bajo",
    "reason_high_risk": "riesgo alto sin encuesta",
    "reason_disagree": "reglas y modelo no coinciden",
    "reason_dissatisfied": "cliente insatisfecho",
    "case": "Caso",
    "created": "Creada",
    "subject": "Asunto",
    "body": "Cliente",
    "answer": "Agente",
    "comments": "Comentarios",
    "failed_rules": "Reglas incumplidas",
    "evidence": "Evidencia",
    "survey_answer": "Encuesta",
    "no_survey": "sin encuesta",
    "top_terms": "Palabras que más pesaron",
    "text_truncated": {"one": "(texto recortado: {n} carácter en total)", "other": "(texto recortado: {n} caracteres en total)"},
    "empty_text": "(vacío)",
    "satisfied": "satisfecho",
    "dissatisfied": "insatisfecho",
    "rules_title": "Reglas y satisfacción del cliente",
    "rules_help": (
        "Para cada regla: en cuántas interacciones aplica, cuántas la cumplen y cómo se relaciona con "
        "la encuesta: la tasa de clientes insatisfechos cuando la regla falla frente a cuando se "
        "cumple, con intervalos de Wilson del 95 %. Es una asociación medida, no una causa."),
    "severity": "Severidad",
    "critical": "crítica",
    "weight": "Peso",
    "applicability": "Aplica en",
    "dissat_failed": "Insatisfechos si falla",
    "dissat_passed": "Insatisfechos si cumple",
    "verdict": "Veredicto",
    "verdict_more": "fallar esta regla va con {ratio} más clientes insatisfechos",
    "verdict_fewer": "fallar esta regla va con {ratio} menos clientes insatisfechos",
    "verdict_none": "sin relación medible todavía",
    "verdict_never_fails": "nunca falla en este periodo",
    "no_rules": "No hay resultados de reglas en este periodo (¿se ejecutó «qa-scoring score»?).",
    "model_title": "Modelo de insatisfacción",
    "no_model": "Todavía no hay modelo: ejecute «qa-scoring train» cuando haya suficientes encuestas.",
    "model_id": "Modelo",
    "model_created": "Entrenado",
    "metrics": "Evaluación",
    "metric": "Métrica",
    "value": "Valor",
    "baseline": "Línea base",
    "text_baseline": "Texto simple (TF-IDF + RL)",
    "text_baseline_help": ("Texto simple: una regresión logística sobre las palabras de los mismos textos y nada más; "
                           "el modelo debe superarla para que sus demás señales valgan la pena."),
    "text_baseline_fields": "Textos leídos",
    "roc_curve": "Curva ROC",
    "pr_curve": "Curva precisión-exhaustividad",
    "calibration": "Calibración",
    "fpr": "tasa de falsos positivos",
    "tpr": "tasa de verdaderos positivos",
    "recall": "exhaustividad",
    "precision": "precisión",
    "predicted": "predicho",
    "observed": "observado",
    "split": "Partición",
    "label_mapping": "Etiquetas de la encuesta",
    "top_terms_overall": "Palabras que más empujan hacia la insatisfacción",
    "top_signals_overall": "Otras señales que empujan hacia la insatisfacción",
    "sig_rule": "regla incumplida: {name}",
    "sig_channel": "canal: {name}",
    "sig_skill": "skill: {name}",
    "sig_handle_time": "tiempo de gestión más largo",
    "sig_handle_missing": "sin hora de cierre",
    "agent_word": "[nombre del agente]",
    "curve_missing": "Curva no disponible en este modelo.",
    "footer_generated": "Generado",
    "footer_window": "Datos",
    "footer_pack": "Paquete de reglas",
    "footer_model": "Modelo",
    "footer_versions": "Versiones",
    "footer_run": "Ejecución",
    "adjusted_short": "ajust.",
    "col_satisfaction": "Satisfechos",
    "col_risk": "Riesgo",
    "col_critical": "Críticas",
    "label_auto": ("1-5: 4-5 satisfecho, 1-3 insatisfecho; escala de 10 puntos: 8-10 satisfecho; palabras "
                   "como «excelente» o «malo» según su sentido; otras respuestas no se usan"),
    "m_roc_auc": "ROC AUC",
    "m_pr_auc": "PR AUC",
    "m_brier": "Brier",
    # one plain sentence per metric, under the model page's metrics table
    "mh_roc_auc": ("ROC AUC: de un cliente insatisfecho y uno satisfecho tomados al azar, la probabilidad de que "
                   "el modelo le dé más riesgo al insatisfecho (0,5 es azar, 1 es perfecto)."),
    "mh_pr_auc": ("PR AUC: qué tan limpia es la lista ordenada por riesgo, la proporción media de insatisfechos "
                  "de verdad al leerla desde el riesgo más alto (el azar da la proporción de insatisfechos)."),
    "mh_brier": ("Brier: la distancia media al cuadrado entre el riesgo predicho y lo que pasó (1 insatisfecho, "
                 "0 satisfecho); más bajo es mejor, y solo es bajo si los riesgos se cumplen."),
    "m_log_loss": "Pérdida logarítmica",
    "m_accuracy": "Exactitud",
    "m_agent_only_roc_auc": "ROC AUC solo con el agente",
    "m_n_train": "Encuestas de entrenamiento",
    "m_n_test": "Encuestas de prueba",
    "s_train_from": "entrenamiento desde",
    "s_train_to": "entrenamiento hasta",
    "s_split_at": "prueba desde",
    "s_test_to": "prueba hasta",
    "s_test_fraction": "fracción de prueba",
    "s_n_features": "variables",
    "s_calibration": "calibración",
    "s_class_balance.train_dissatisfied": "entrenamiento: insatisfechos",
    "s_class_balance.train_satisfied": "entrenamiento: satisfechos",
    "s_class_balance.test_dissatisfied": "prueba: insatisfechos",
    "s_class_balance.test_satisfied": "prueba: satisfechos",
    "lm_scale": "escala",
    "lm_numeric": "números",
    "lm_satisfied_words": "palabras de satisfacción",
    "lm_dissatisfied_words": "palabras de insatisfacción",
    "lm_unknown": "otras respuestas",
    "none": "ninguno",
    "yes": "sí",
    "no": "no",
    # issue 12 (report lane): critical failures, open interactions, review lists, masking
    "verdict_unsurveyed": "fallas: {n}, ninguna con encuesta; nada que medir todavía",
    "failures_n": "fallas: {n}",
    "open_pending_note": {
        "one": ("{n} interacción sigue abierta (creada hace menos de {hours} h): queda fuera de todas las "
                "cifras, gráficos y listas hasta que cierre; se vuelve a evaluar al cerrar y el siguiente informe "
                "la cuenta tal como termine. Las abiertas hace más de {hours} h cuentan como están."),
        "other": ("{n} interacciones siguen abiertas (creadas hace menos de {hours} h): quedan fuera de todas las "
                  "cifras, gráficos y listas hasta que cierren; se vuelven a evaluar al cerrar y el siguiente informe "
                  "las cuenta tal como terminen. Las abiertas hace más de {hours} h cuentan como están.")},
    "open_pending_short": "abiertas pendientes: {n}",
    "dq_open_pending": "Abiertas, pendientes (fuera de las cifras)",
    "dq_open_counted": "Abiertas hace más de {hours} h (cuentan como están)",
    "worst_title": "Las peores interacciones del equipo",
    "worst_help": (
        "Primero las fallas críticas, luego los puntajes más bajos, luego el riesgo predicho alto sin "
        "encuesta y por último los desacuerdos entre reglas y modelo."),
    "back_to_rules": "← Reglas",
    "failures": "Fallas",
    "all_failures_link": "ver sus fallas ({n})",
    "rule_failures_title": "Fallas en el periodo",
    "rule_failures_capped": "Se muestran {shown} de {n}: primero los puntajes más bajos, luego las más recientes.",
    "rule_failures_none": "Esta regla no falló en el periodo.",
    "more_rules": {"one": "y {n} regla más", "other": "y {n} reglas más"},
    "critical_banner": "Fallas críticas en el periodo: {n}",
    "critical_banner_help": "Cada falla crítica deja la interacción en 0 (tarjetas, CVV, insultos…): revíselas primero.",
    "critical_by_agent": "Por agente",
    "critical_by_rule": "Por regla",
    "agent_critical_title": "Fallas críticas: {n}",
    "critical_capped": "Se muestran las {shown} más recientes de {n}.",
    "ranking_note": (
        "Un periodo tan corto tiene pocas interacciones por agente: el orden, las interacciones, el puntaje, "
        "su intervalo y la diferencia con el equipo se calculan sobre una ventana de {days} "
        "({range}). La columna «Periodo» y las de críticas, satisfacción y riesgo son del periodo "
        "del informe."),
    "window_days": {"one": "{n} día", "other": "{n} días"},
    "col_period": "Periodo",
    "small_cell": "n pequeño",
    "subject_chat": "Nombre del cliente",
    "focus_title": "Tres cosas para trabajar",
    "expected_missing": "no se encontró lo esperado",
    # a failure without evidence: what the rule looked for and why it applied (report/rulewords.py)
    "why_applied": "se aplicó porque",
    "w_in_one": "{field} es {values}",
    "w_in": "{field} es una de estas: {values}",
    "w_contains": "{field} contiene alguna de estas: {values}",
    "w_matches": "{field} coincide con {values}",
    "w_min_length": "{field} tiene al menos {n} caracteres",
    "w_not_blank": "hay texto en {field}",
    "w_always": "se aplica a toda interacción",
    "x_contains_any": "alguna de estas en {field}: {values}",
    "x_matches": "{field} que coincida con {values}",
    "x_not_empty": "texto en {field}",
    "fw_more": "y {n} más",
    "fw_body": "el mensaje del cliente",
    "fw_answer": "la respuesta del agente",
    "fw_comments": "la nota del agente",
    "fw_subject": "el asunto",
    "fw_channel": "el canal",
    "fw_skill_id": "el skill",
    "fw_cod_act": "la tipificación",
    "fw_cod_description": "la descripción de la tipificación",
    "fw_status": "el estado",
    "print_rules_note": "Versión impresa: solo las reglas claramente por debajo del equipo (intervalo del 95 %) o con una falla crítica; la lista completa está en pantalla.",
    "print_queues_note": {"one": "Versión impresa: sin las combinaciones de menos de {n} interacción.",
                          "other": "Versión impresa: sin las combinaciones de menos de {n} interacciones."},
    "print_reviews_note": {"one": "Versión impresa: la primera; las demás están en pantalla.",
                           "other": "Versión impresa: las {n} primeras; las demás están en pantalla."},
    "focus_gap": "cumple {own} frente a {team} del equipo en la misma mezcla ({gap} pp)",
    "focus_example": "Ejemplo",
    "focus_none": "Ninguna regla queda claramente por debajo del equipo en este periodo (intervalo del 95 %).",
    "subject_social": "Autor de la publicación",
    "operation": "Operación",
    "model_per_operation": "Por operación",
    "model_per_operation_help": "El modelo aprende de todas las operaciones; aquí, las mismas métricas del periodo de prueba dentro de cada una (– si sus encuestas de prueba tienen una sola clase).",
    "zone": "zona horaria",
    "all_operations": "todas las operaciones",
    "operations_title": "Operaciones",
    "operations_help": (
        "Cada operación de Wolkvox tiene su propio informe (sus agentes, su equipo, sus días en su propia zona "
        "horaria): el puntaje de un agente se compara con el resto del equipo de su operación."),
    # calibration against the QA team's verdicts (issue 14)
    "nav_calibration": "Calibración",
    "cal_title": "Concordancia de las reglas con el equipo de calidad",
    "cal_help": (
        "Cada regla se compara con los veredictos de los analistas sobre las mismas interacciones (el más "
        "reciente de cada analista). La κ de Cohen descuenta el acuerdo que se daría por azar: 1 es acuerdo "
        "perfecto y 0 el del azar. El intervalo es del 95 % (error estándar analítico de Fleiss, Cohen y "
        "Everitt). Ventana: {since} – {until}."),
    "cal_verdict_help": (
        "Lectura: κ ≥ 0,8 confiable · 0,6–0,8 aceptable · menor de 0,6 revisar la regla · menos de {n} "
        "revisiones: pocas para juzgar, sea cual sea la κ."),
    "cal_reliable": "confiable",
    "cal_acceptable": "aceptable",
    "cal_revise": "revisar la regla",
    "cal_too_few": "pocas revisiones",
    "cal_undefined": "κ no definida",
    "cal_undefined_help": "la regla y los analistas dieron un solo resultado: no hay acuerdo por azar que descontar",
    "cal_no_interval": "sin intervalo: no hubo ningún desacuerdo",
    "cal_chart_title": "κ por regla, con su intervalo del 95 %",
    "cal_none": (
        "Aún no hay revisiones del equipo de calidad. Impórtelas con «qa-scoring reviews import ARCHIVO» (la "
        "exportación de evaluaciones de Wolkvox o el CSV propio) o genere una muestra para revisar con "
        "«qa-scoring reviews sample --out muestra.csv»."),
    "cal_none_window": "Hay {n} veredictos, pero ninguno sobre interacciones de esta ventana evaluadas por las reglas.",
    "cal_kappa": "Kappa (IC 95 %)",
    "cal_raw": "Acuerdo",
    "cal_precision": "Precisión",
    "cal_recall": "Exhaustividad",
    "cal_humans": "Kappa entre analistas",
    "cal_table": "Regla / analista",
    "cal_table_cells": "cumple/cumple {pp} · cumple/no {pf} · no/cumple {fp} · no/no {ff}",
    "cal_na": "desacuerdos sobre si aplica: {n}",
    "cal_pr_help": (
        "Precisión: de las fallas que marcó la regla, la parte que el analista confirmó. Exhaustividad: de las "
        "fallas que vio el analista, la parte que la regla marcó. «Regla / analista» es la tabla 2×2."),
    "cal_overall": "En conjunto: κ {kappa} sobre {n} juicios; {verdicts} veredictos de {reviewers} analistas.",
    "cal_overall_undefined": "En conjunto: {n} juicios; {verdicts} veredictos de {reviewers} analistas.",
    "cal_humans_overall": (
        "Entre analistas, sobre los mismos casos: κ {kappa} (n = {n}). Es el techo que una regla puede "
        "alcanzar: si los analistas no coinciden entre sí, la regla no puede coincidir con todos."),
    "cal_unmatched": "Filas importadas sin emparejar: {n}. No cuentan en ninguna cifra:",
    "unmatched_no_interaction": "sin interacción con ese caso",
    "unmatched_no_rule": "regla desconocida",
    "unmatched_no_attribute": "atributo de Wolkvox que ninguna regla nombra",
    "unmatched_ambiguous": "ambiguas (el mismo caso en varios canales, sin canal)",
    "disputes_title": "Hallazgos en disputa",
    "disputes_help": "Interacciones donde el veredicto más reciente del equipo difiere del resultado de la regla.",
    "disputes_applied": "Con «reviews.override» activo, el veredicto reemplaza al de la regla en el puntaje y en todas las cifras.",
    "disputes_not_applied": "«reviews.override» está desactivado: los puntajes usan el resultado de la regla.",
    "disputes_capped": "Se muestran {shown} de {n}, las más recientes primero.",
    "disputes_none": "Ningún veredicto contradice a las reglas en esta ventana.",
    "outcome_pass": "cumple",
    "outcome_fail": "no cumple",
    "outcome_na": "no aplica",
    "dispute_line": "regla: {auto} · revisión: {verdict}",
    "reviewers_split": "los analistas no coinciden",
    "cal_dispute_col": "Regla → revisión",
    "override_applied": "aplicado al puntaje",
    "reviewer": "Analista",
    "low_agreement": "baja concordancia con QA",
    "low_agreement_help": "κ {kappa} con los analistas (n = {n}): revise la regla antes de actuar sobre sus fallas",
    "index_reviews": "Revisiones del equipo de calidad: {n} veredictos de {reviewers} analistas; el más reciente del {latest}.",
    "index_reviews_none": "Aún no hay revisiones del equipo de calidad: las reglas no se han contrastado con los analistas.",
    "index_low_agreement": "Reglas con baja concordancia con los analistas: {rules}.",
    "cal_link": "ver la calibración",
    "agent_overrides": "El puntaje incluye veredictos del equipo de calidad que cambian el resultado de una regla (interacciones: {n}).",
    "agent_disputes": "Veredictos del equipo de calidad",
    "card_overrides": "veredictos del equipo en este caso",
    "small_cell_help": {
        "one": "menos de {n} interacción: una pista, no un hallazgo (la diferencia solo se colorea si su intervalo del 95 % excluye el 0)",
        "other": "menos de {n} interacciones: una pista, no un hallazgo (la diferencia solo se colorea si su intervalo del 95 % excluye el 0)"},
    # issue 12 item 8 (i18n lane): every string a page shows, in the report's language
    "f_channel": "Canal",
    "f_agent_name": "Agente",
    "f_skill_id": "Skill",
    "f_case_id": "Caso",
    "f_subject": "Asunto",
    "f_from_addr": "Remitente",
    "f_to_addr": "Destinatario",
    "f_body": "Mensaje del cliente",
    "f_answer": "Respuesta del agente",
    "f_date_creation": "Fecha de creación",
    "f_close_date": "Fecha de cierre",
    "f_evaluation_survey": "Encuesta",
    "f_cod_act": "Tipificación",
    "f_cod_description": "Descripción de la tipificación",
    "f_comments": "Comentarios",
    "f_attachments": "Adjuntos",
    "f_status": "Estado",
    "f_created_at": "Creación",
    "f_closed_at": "Cierre",
    "ev_measured": "{value} ({bounds})",
    "ev_min": "mín. {value}",
    "ev_max": "máx. {value}",
    "chars_n": {"one": "{n} carácter", "other": "{n} caracteres"},
    "words_n": {"one": "{n} palabra", "other": "{n} palabras"},
    "term_rule": "regla incumplida: {rule}",
    "term_channel": "canal: {value}",
    "term_skill": "skill: {value}",
    "term_handle": "tiempo de gestión: {time}",
    "term_handle_any": "tiempo de gestión",
    "term_no_close": "sin hora de cierre",
    "q_missing_case_id": "sin número de caso (case_id)",
    "q_missing_agent_name": "sin agente (agent_name)",
    "q_missing_date_creation": "sin fecha de creación (date_creation)",
    "q_bad_date_creation": "fecha de creación ilegible (date_creation)",
    "q_bad_close_date": "fecha de cierre ilegible (close_date)",
    "q_date_creation": "fecha de creación fuera del rango aceptado (date_creation)",
    "q_close_date": "fecha de cierre fuera del rango aceptado (close_date)",
    "q_not_object": "la fila no es un objeto JSON",
    "q_field_count": "la fila no tiene los mismos campos que el encabezado (CSV)",
    "lm_scale_auto": "automática",
    "lm_numeric_auto": ("1-5: 4-5 satisfecho, 1-3 insatisfecho; 6-10 (escala de 10 puntos): 8-10 satisfecho; "
                        "0: insatisfecho; decimales con «,» o «.» tal como se escriban"),
    "lm_numeric_scale": "{scale}: {sat}-{high} satisfecho, de {low} a menos de {sat} insatisfecho",
    "lm_unknown_text": "cualquier otra respuesta: se cuenta, nunca se usa",
    "s_calibration_text": "{method}, ajustada con el {share} más reciente de las filas de entrenamiento",
    # drift alarms (alarms.py) and trends (report/trends.py)
    "alarms_title": "Qué cambió el {day}",
    "alarms_help": "Cada tasa del día se compara con los {days} días anteriores, con límites binomiales exactos para el número de interacciones del día; con la corrección de Bonferroni, un día tranquilo da una falsa alarma con probabilidad {alpha}.",
    "alarm_rule_pass_rate": "La regla «{rule}» se cumplió en {rate} el {day} frente a {base} ({low}–{high}) en los {days} días anteriores.",
    "alarm_rule_applicability": "La regla «{rule}» se aplicó a {rate} de las interacciones el {day} frente a {base} ({low}–{high}) en los {days} días anteriores.",
    "alarm_dissatisfaction": "La insatisfacción entre las encuestas respondidas fue {rate} el {day} frente a {base} ({low}–{high}) en los {days} días anteriores.",
    "alarm_calibration": "El modelo esperaba {base} de clientes insatisfechos entre los encuestados del {day} y fueron {rate} (límites {low}–{high}): revise su calibración.",
    "alarm_blank_answers": "Las respuestas en blanco fueron {rate} el {day} frente a {base} ({low}–{high}) en los {days} días anteriores.",
    "alarm_volume": "El canal «{channel}» tuvo {rate} interacciones el {day} frente a {base} ({low}–{high}) el mismo día de la semana en los {days} días anteriores.",
    "alarm_unknown_words": "El modelo no conocía {rate} de las palabras que leyó el {day} frente a {base} ({low}–{high}) en los {days} días anteriores: el texto cambió (¿una plantilla nueva, otro idioma, una importación rota?); revise los textos y reentrene.",
    "trend_weekly": "Puntaje por semana (últimas {n} semanas)",
    "trend_improving": "mejorando",
    "trend_worsening": "empeorando",
    "trend_stable": "estable",
    "trend_too_few": "muy pocas interacciones para decirlo",
    "trend_sentence": "Última semana {last} frente a {before} en las 4 semanas anteriores (diferencia {low} a {high}): {verdict}.",
    "trend_sentence_few": "Última semana {last} frente a {before} en las 4 semanas anteriores: {verdict}.",
    "trend_test_help": "Prueba: z de Welch sobre la media de la última semana frente a las 4 anteriores, al 95 %; con menos de {n} interacciones evaluadas en un lado no se concluye.",
    "changed_title": "Qué cambió esta semana",
    "changed_none": "Ningún agente difiere de sus 4 semanas anteriores más allá del ruido.",
    "rule_daily_trend": "Cumplimiento por día (8 semanas)",
    "rule_weekly_trend": "Cumplimiento por semana (últimas {n})",
}

EN: dict[str, str | dict[str, str]] = {
    "lang_name": "English",
    "report_title": "Quality audit",
    "nav_index": "Summary",
    "nav_rules": "Rules",
    "nav_model": "Model",
    "period": "Period",
    "period_range": "{range} ({days})",
    "days_n": {"one": "{n} day", "other": "{n} days"},
    "interactions": "Interactions",
    "agents": "Agents",
    "scored": "Scored by the rules",
    "survey_coverage": "With a survey",
    "team_score": "Team score",
    "critical_fails": "Critical fails",
    "satisfaction": "Satisfaction (survey)",
    "predicted_risk": "Predicted risk",
    "trend": "Trend",
    "agent": "Agent",
    "score": "Score",
    "score_ci": "Score (95% CI)",
    "vs_team": "vs team",
    "n_of": "n = {n}",
    "no_data": "no data",
    "no_interactions": "There are no interactions in this period.",
    "agent_table": "Agents, worst first",
    "agent_table_help": (
        "Order: difference from the rest of the team on the same skill and channel mix, adjusted for "
        "sample size (empirical-Bayes shrinkage toward the team mean). An agent with few "
        "interactions stays near the middle and carries the “small sample” marker: the interval is "
        "wide and the position in the table is not conclusive."),
    "small_sample": "small sample",
    "small_sample_help": {"one": "fewer than {n} scored interaction", "other": "fewer than {n} scored interactions"},
    "ci_help": "95% confidence interval.",
    "ci95": "95% CI",
    "strip_help": "Bar: 95% interval; dot: score; red tick: the team on the same mix.",
    "shrunk": "Adjusted difference",
    "rank": "#",
    "dq_title": "Data quality",
    "dq_help": "Before trusting the scores: what arrived broken or incomplete.",
    "dq_in_period": "In the period",
    "dq_in_store": "In the whole database (all periods)",
    "dq_no_answer": "Interactions without an agent answer",
    "dq_bad_times": "Closed before created (impossible timestamps)",
    "dq_not_scored": "Without a rule score",
    "dq_no_prediction": "Without a model prediction",
    "dq_survey_unreadable": "Survey answers that cannot be interpreted",
    "dq_quarantine": "Quarantined rows",
    "dq_duplicates": "Repeated rows merged",
    "dq_reason": "Reason",
    "dq_count": "Rows",
    "dq_none": "No quarantined rows.",
    "agent_page_title": "Agent",
    "back_to_index": "← Summary",
    "comparison_used": (
        "Comparison: this agent against the rest of the team on the same skill and channel "
        "combinations, weighted by the agent's own volume (a hard queue does not make an agent look "
        "worse)."),
    "expected_same_mix": "Team on the same mix",
    "difference": "Difference",
    "by_queue": "By skill and channel",
    "skill": "Skill",
    "channel": "Channel",
    "team": "Team",
    "team_rest": "Rest of the team",
    "rules_vs_team": "Rules: pass rate against the team",
    "rule": "Rule",
    "applicable": "Applies",
    "pass_rate": "Passed",
    "team_pass_rate": "Team (same mix)",
    "trend_by_day": "Score by day",
    "trend_legend_agent": "agent",
    "trend_legend_team": "team",
    "review_first": "Review these first",
    "review_help": (
        "The interactions most worth a human review: critical failures, lowest scores, high "
        "predicted risk without a survey, and disagreement between the rules and the model."),
    "review_none": "Nothing to review in this period.",
    "reason_critical": "critical failure",
    "reason_low_score": "low score",
    "reason_high_risk": "high risk, no survey",
    "reason_disagree": "rules and model disagree",
    "reason_dissatisfied": "dissatisfied customer",
    "case": "Case",
    "created": "Created",
    "subject": "Subject",
    "body": "Customer",
    "answer": "Agent",
    "comments": "Comments",
    "failed_rules": "Failed rules",
    "evidence": "Evidence",
    "survey_answer": "Survey",
    "no_survey": "no survey",
    "top_terms": "Words that weighed most",
    "text_truncated": {"one": "(text shortened: {n} character in all)", "other": "(text shortened: {n} characters in all)"},
    "empty_text": "(empty)",
    "satisfied": "satisfied",
    "dissatisfied": "dissatisfied",
    "rules_title": "Rules and customer satisfaction",
    "rules_help": (
        "For each rule: where it applies, how often it passes, and how it relates to the survey: the "
        "share of dissatisfied customers when the rule fails against when it passes, with Wilson "
        "95% intervals. This is a measured association, not a cause."),
    "severity": "Severity",
    "critical": "critical",
    "weight": "Weight",
    "applicability": "Applies to",
    "dissat_failed": "Dissatisfied when failed",
    "dissat_passed": "Dissatisfied when passed",
    "verdict": "Verdict",
    "verdict_more": "failing this rule goes with {ratio} more dissatisfied customers",
    "verdict_fewer": "failing this rule goes with {ratio} fewer dissatisfied customers",
    "verdict_none": "no measurable relation yet",
    "verdict_never_fails": "never fails in this period",
    "no_rules": "No rule results in this period (did “qa-scoring score” run?).",
    "model_title": "Dissatisfaction model",
    "no_model": "No model yet: run “qa-scoring train” once there are enough survey answers.",
    "model_id": "Model",
    "model_created": "Trained",
    "metrics": "Evaluation",
    "metric": "Metric",
    "value": "Value",
    "baseline": "Baseline",
    "text_baseline": "Plain text (TF-IDF + LR)",
    "text_baseline_help": ("Plain text: a logistic regression on the words of the same texts and nothing else; "
                           "the model must beat it for its other signals to be worth having."),
    "text_baseline_fields": "Texts read",
    "roc_curve": "ROC curve",
    "pr_curve": "Precision-recall curve",
    "calibration": "Calibration",
    "fpr": "false positive rate",
    "tpr": "true positive rate",
    "recall": "recall",
    "precision": "precision",
    "predicted": "predicted",
    "observed": "observed",
    "split": "Split",
    "label_mapping": "Survey labels",
    "top_terms_overall": "Words that push most toward dissatisfaction",
    "top_signals_overall": "Other signals that push toward dissatisfaction",
    "sig_rule": "rule failed: {name}",
    "sig_channel": "channel: {name}",
    "sig_skill": "skill: {name}",
    "sig_handle_time": "a longer handle time",
    "sig_handle_missing": "no close time",
    "agent_word": "[agent's name]",
    "curve_missing": "Curve not available for this model.",
    "footer_generated": "Generated",
    "footer_window": "Data",
    "footer_pack": "Rule pack",
    "footer_model": "Model",
    "footer_versions": "Versions",
    "footer_run": "Run",
    "adjusted_short": "adj.",
    "col_satisfaction": "Satisfied",
    "col_risk": "Risk",
    "col_critical": "Critical",
    "label_auto": ("1-5: 4-5 satisfied, 1-3 dissatisfied; 10-point scale: 8-10 satisfied; words such as "
                   "“excellent” or “bad” by their meaning; other answers are not used"),
    "m_roc_auc": "ROC AUC",
    "m_pr_auc": "PR AUC",
    "m_brier": "Brier",
    "mh_roc_auc": ("ROC AUC: of one dissatisfied and one satisfied customer picked at random, the chance that the "
                   "model gives the dissatisfied one the higher risk (0.5 is chance, 1 is perfect)."),
    "mh_pr_auc": ("PR AUC: how clean the list sorted by risk is, the average share of truly dissatisfied customers "
                  "when reading it from the highest risk down (chance gives the share of dissatisfied customers)."),
    "mh_brier": ("Brier: the mean squared distance between the predicted risk and what happened (1 dissatisfied, "
                 "0 satisfied); lower is better, and it is low only when the risks come true."),
    "m_log_loss": "Log loss",
    "m_accuracy": "Accuracy",
    "m_agent_only_roc_auc": "ROC AUC from the agent alone",
    "m_n_train": "Training surveys",
    "m_n_test": "Test surveys",
    "s_train_from": "training from",
    "s_train_to": "training to",
    "s_split_at": "test from",
    "s_test_to": "test to",
    "s_test_fraction": "test fraction",
    "s_n_features": "features",
    "s_calibration": "calibration",
    "s_class_balance.train_dissatisfied": "training: dissatisfied",
    "s_class_balance.train_satisfied": "training: satisfied",
    "s_class_balance.test_dissatisfied": "test: dissatisfied",
    "s_class_balance.test_satisfied": "test: satisfied",
    "lm_scale": "scale",
    "lm_numeric": "numbers",
    "lm_satisfied_words": "satisfied words",
    "lm_dissatisfied_words": "dissatisfied words",
    "lm_unknown": "other answers",
    "none": "none",
    "yes": "yes",
    "no": "no",
    # issue 12 (report lane): critical failures, open interactions, review lists, masking
    "verdict_unsurveyed": "failures: {n}, none with a survey; nothing to measure yet",
    "failures_n": "failures: {n}",
    "open_pending_note": {
        "one": ("{n} interaction is still open (created less than {hours} h ago): it is left out of every "
                "figure, chart and list until it closes; it is rescored when it closes and the next report "
                "counts it as it ended. Interactions open for more than {hours} h count as they are."),
        "other": ("{n} interactions are still open (created less than {hours} h ago): they are left out of every "
                  "figure, chart and list until they close; they are rescored when they close and the next report "
                  "counts them as they ended. Interactions open for more than {hours} h count as they are.")},
    "open_pending_short": "open, pending: {n}",
    "dq_open_pending": "Open, pending (left out of the figures)",
    "dq_open_counted": "Open for more than {hours} h (counted as they are)",
    "worst_title": "The team's worst interactions",
    "worst_help": (
        "Critical failures first, then the lowest scores, then high predicted risk without a survey, "
        "and last the interactions where the rules and the model disagree."),
    "back_to_rules": "← Rules",
    "failures": "Failures",
    "all_failures_link": "see its failures ({n})",
    "rule_failures_title": "Failures in the period",
    "rule_failures_capped": "Showing {shown} of {n}: the lowest scores first, then the newest.",
    "rule_failures_none": "This rule did not fail in the period.",
    "more_rules": {"one": "and {n} more rule", "other": "and {n} more rules"},
    "critical_banner": "Critical failures in the period: {n}",
    "critical_banner_help": "Each critical failure zeroes the interaction (cards, CVV, insults…): review them first.",
    "critical_by_agent": "By agent",
    "critical_by_rule": "By rule",
    "agent_critical_title": "Critical failures: {n}",
    "critical_capped": "Showing the newest {shown} of {n}.",
    "ranking_note": (
        "A period this short has few interactions per agent: the order, interactions, score, its interval "
        "and the difference from the team are computed over a window of {days} ({range}). "
        "The “Period” column and the critical, satisfaction and risk columns are the report's own period."),
    "window_days": {"one": "{n} day", "other": "{n} days"},
    "col_period": "Period",
    "small_cell": "small n",
    "subject_chat": "Customer name",
    "focus_title": "Three things to work on",
    "expected_missing": "what was expected and not found",
    "why_applied": "it applied because",
    "w_in_one": "{field} is {values}",
    "w_in": "{field} is one of these: {values}",
    "w_contains": "{field} contains one of these: {values}",
    "w_matches": "{field} matches {values}",
    "w_min_length": "{field} has at least {n} characters",
    "w_not_blank": "there is text in {field}",
    "w_always": "it applies to every interaction",
    "x_contains_any": "one of these in {field}: {values}",
    "x_matches": "{field} matching {values}",
    "x_not_empty": "text in {field}",
    "fw_more": "and {n} more",
    "fw_body": "the customer's message",
    "fw_answer": "the agent's answer",
    "fw_comments": "the agent's note",
    "fw_subject": "the subject",
    "fw_channel": "the channel",
    "fw_skill_id": "the skill",
    "fw_cod_act": "the disposition code",
    "fw_cod_description": "the disposition description",
    "fw_status": "the status",
    "print_rules_note": "Printed: only the rules clearly below the team (95% interval) or with a critical failure; the full list is on screen.",
    "print_queues_note": {"one": "Printed: without the combinations of fewer than {n} interaction.",
                          "other": "Printed: without the combinations of fewer than {n} interactions."},
    "print_reviews_note": {"one": "Printed: the first one; the others are on screen.",
                           "other": "Printed: the first {n}; the others are on screen."},
    "focus_gap": "passes {own} against the team's {team} on the same mix ({gap} pp)",
    "focus_example": "Example",
    "focus_none": "No rule is clearly below the team in this period (95% interval).",
    "subject_social": "Post author",
    "operation": "Operation",
    "model_per_operation": "Per operation",
    "model_per_operation_help": "The model learns from every operation; here, the same held-out metrics within each one (– when its test surveys have one class only).",
    "zone": "time zone",
    "all_operations": "all operations",
    "operations_title": "Operations",
    "operations_help": (
        "Each Wolkvox operation has its own report (its agents, its team, its days in its own time zone): an "
        "agent's score is compared with the rest of their operation's team."),
    # calibration against the QA team's verdicts (issue 14)
    "nav_calibration": "Calibration",
    "cal_title": "How the rules agree with the QA team",
    "cal_help": (
        "Each rule is compared with the analysts' verdicts on the same interactions (each analyst's latest). "
        "Cohen's κ discounts the agreement chance alone would give: 1 is perfect agreement, 0 is chance. The "
        "interval is 95 % (the analytic standard error of Fleiss, Cohen and Everitt). Window: {since} – {until}."),
    "cal_verdict_help": (
        "Reading: κ ≥ 0.8 reliable · 0.6–0.8 acceptable · below 0.6 revise the rule · fewer than {n} reviews: "
        "too few to judge, whatever κ is."),
    "cal_reliable": "reliable",
    "cal_acceptable": "acceptable",
    "cal_revise": "revise the rule",
    "cal_too_few": "too few reviews",
    "cal_undefined": "κ undefined",
    "cal_undefined_help": "the rule and the analysts gave one outcome only: there is no chance agreement to discount",
    "cal_no_interval": "no interval: there was no disagreement at all",
    "cal_chart_title": "κ per rule, with its 95 % interval",
    "cal_none": (
        "No reviews by the QA team yet. Import them with «qa-scoring reviews import FILE» (Wolkvox's "
        "evaluation export or the project's own CSV) or draw a sample to review with "
        "«qa-scoring reviews sample --out sample.csv»."),
    "cal_none_window": "There are {n} verdicts, but none on interactions of this window scored by the rules.",
    "cal_kappa": "Kappa (95 % CI)",
    "cal_raw": "Agreement",
    "cal_precision": "Precision",
    "cal_recall": "Recall",
    "cal_humans": "Kappa between analysts",
    "cal_table": "Rule / analyst",
    "cal_table_cells": "pass/pass {pp} · pass/fail {pf} · fail/pass {fp} · fail/fail {ff}",
    "cal_na": "disagreements on whether it applies: {n}",
    "cal_pr_help": (
        "Precision: of the failures the rule found, the share the analyst confirmed. Recall: of the failures the "
        "analyst saw, the share the rule found. «Rule / analyst» is the 2×2 table."),
    "cal_overall": "Overall: κ {kappa} on {n} judgments; {verdicts} verdicts by {reviewers} analysts.",
    "cal_overall_undefined": "Overall: {n} judgments; {verdicts} verdicts by {reviewers} analysts.",
    "cal_humans_overall": (
        "Between analysts, on the same cases: κ {kappa} (n = {n}). This is the ceiling a rule can reach: if the "
        "analysts do not agree with each other, a rule cannot agree with all of them."),
    "cal_unmatched": "Imported rows left unmatched: {n}. They count in no figure:",
    "unmatched_no_interaction": "no interaction with that case",
    "unmatched_no_rule": "unknown rule",
    "unmatched_no_attribute": "a Wolkvox attribute no rule names",
    "unmatched_ambiguous": "ambiguous (the same case on several channels, no channel given)",
    "disputes_title": "Disputed findings",
    "disputes_help": "Interactions where the team's latest verdict differs from the rule's outcome.",
    "disputes_applied": "With «reviews.override» on, the verdict replaces the rule's in the score and in every figure.",
    "disputes_not_applied": "«reviews.override» is off: scores use the rule's outcome.",
    "disputes_capped": "Showing {shown} of {n}, the newest first.",
    "disputes_none": "No verdict contradicts the rules in this window.",
    "outcome_pass": "pass",
    "outcome_fail": "fail",
    "outcome_na": "not applicable",
    "dispute_line": "rule: {auto} · review: {verdict}",
    "reviewers_split": "the analysts disagree",
    "cal_dispute_col": "Rule → review",
    "override_applied": "applied to the score",
    "reviewer": "Analyst",
    "low_agreement": "low agreement with QA",
    "low_agreement_help": "κ {kappa} with the analysts (n = {n}): revise the rule before acting on its failures",
    "index_reviews": "QA team reviews: {n} verdicts by {reviewers} analysts; the newest on {latest}.",
    "index_reviews_none": "No QA team reviews yet: the rules have not been checked against the analysts.",
    "index_low_agreement": "Rules with low agreement with the analysts: {rules}.",
    "cal_link": "see the calibration",
    "agent_overrides": "The score includes QA team verdicts that change a rule's outcome (interactions: {n}).",
    "agent_disputes": "QA team verdicts",
    "card_overrides": "the team's verdicts on this case",
    "small_cell_help": {
        "one": "fewer than {n} interaction: a hint, not a finding (a difference is coloured only when its 95% interval excludes 0)",
        "other": "fewer than {n} interactions: a hint, not a finding (a difference is coloured only when its 95% interval excludes 0)"},
    # issue 12 item 8 (i18n lane): every string a page shows, in the report's language
    "f_channel": "Channel",
    "f_agent_name": "Agent",
    "f_skill_id": "Skill",
    "f_case_id": "Case",
    "f_subject": "Subject",
    "f_from_addr": "From",
    "f_to_addr": "To",
    "f_body": "Customer's message",
    "f_answer": "Agent's answer",
    "f_date_creation": "Creation date",
    "f_close_date": "Close date",
    "f_evaluation_survey": "Survey",
    "f_cod_act": "Typification",
    "f_cod_description": "Typification description",
    "f_comments": "Comments",
    "f_attachments": "Attachments",
    "f_status": "Status",
    "f_created_at": "Created",
    "f_closed_at": "Closed",
    "ev_measured": "{value} ({bounds})",
    "ev_min": "min {value}",
    "ev_max": "max {value}",
    "chars_n": {"one": "{n} character", "other": "{n} characters"},
    "words_n": {"one": "{n} word", "other": "{n} words"},
    "term_rule": "rule failed: {rule}",
    "term_channel": "channel: {value}",
    "term_skill": "skill: {value}",
    "term_handle": "handle time: {time}",
    "term_handle_any": "handle time",
    "term_no_close": "no close time",
    "q_missing_case_id": "no case number (case_id)",
    "q_missing_agent_name": "no agent (agent_name)",
    "q_missing_date_creation": "no creation date (date_creation)",
    "q_bad_date_creation": "unreadable creation date (date_creation)",
    "q_bad_close_date": "unreadable close date (close_date)",
    "q_date_creation": "creation date outside the accepted range (date_creation)",
    "q_close_date": "close date outside the accepted range (close_date)",
    "q_not_object": "the row is not a JSON object",
    "q_field_count": "the row does not have the header's fields (CSV)",
    "lm_scale_auto": "automatic",
    "lm_numeric_auto": ("1-5: 4-5 satisfied, 1-3 dissatisfied; 6-10 (10-point scale): 8-10 satisfied; "
                        "0: dissatisfied; decimals with ',' or '.' as written"),
    "lm_numeric_scale": "{scale}: {sat}-{high} satisfied, {low} to below {sat} dissatisfied",
    "lm_unknown_text": "any other answer: counted, never used",
    "s_calibration_text": "{method}, fitted on the newest {share} of the training rows",
    # drift alarms (alarms.py) and trends (report/trends.py)
    "alarms_title": "What changed on {day}",
    "alarms_help": "Each rate of the day is compared with the {days} days before, with exact binomial limits for the day's number of interactions; with the Bonferroni correction, a quiet day raises a false alarm with probability {alpha}.",
    "alarm_rule_pass_rate": "Rule “{rule}” passed in {rate} on {day} against {base} ({low}–{high}) over the previous {days} days.",
    "alarm_rule_applicability": "Rule “{rule}” applied to {rate} of interactions on {day} against {base} ({low}–{high}) over the previous {days} days.",
    "alarm_dissatisfaction": "Dissatisfaction among answered surveys was {rate} on {day} against {base} ({low}–{high}) over the previous {days} days.",
    "alarm_calibration": "The model expected {base} dissatisfied customers among those surveyed on {day} and there were {rate} (limits {low}–{high}): check its calibration.",
    "alarm_blank_answers": "Blank answers were {rate} on {day} against {base} ({low}–{high}) over the previous {days} days.",
    "alarm_volume": "Channel “{channel}” had {rate} interactions on {day} against {base} ({low}–{high}) on the same weekday over the previous {days} days.",
    "alarm_unknown_words": "The model did not know {rate} of the words it read on {day} against {base} ({low}–{high}) over the previous {days} days: the text changed (a new template, another language, a broken import?); check the texts and retrain.",
    "trend_weekly": "Score by week (last {n} weeks)",
    "trend_improving": "improving",
    "trend_worsening": "worsening",
    "trend_stable": "stable",
    "trend_too_few": "too few interactions to tell",
    "trend_sentence": "Last week {last} against {before} over the previous 4 weeks (difference {low} to {high}): {verdict}.",
    "trend_sentence_few": "Last week {last} against {before} over the previous 4 weeks: {verdict}.",
    "trend_test_help": "Test: Welch's z on the mean of the last week against the previous 4, at 95%; with fewer than {n} scored interactions on either side nothing is concluded.",
    "changed_title": "What changed this week",
    "changed_none": "No agent differs from their own previous 4 weeks beyond noise.",
    "rule_daily_trend": "Pass rate by day (8 weeks)",
    "rule_weekly_trend": "Pass rate by week (last {n})",
}

CATALOGUES = {"es": ES, "en": EN}
PLURAL_FORMS = ("zero", "one", "two", "few", "many", "other")  # CLDR categories; "other" is always there

# Measured evidence as rules/sql.py stores it: "134804 s (max 86400 s)", "37 chars (min 40 chars)",
# "5 words (min 3, max 400 words)"; bounds are Python's {:g}.
_MEASURED = re.compile(r"^(-?\d+) (s|chars|words) \(((?:min|max) [0-9.e+-]+(?:, max [0-9.e+-]+)?) (?:s|chars|words)\)$")
# classify's handle-time feature ("handle time 25.1 h", classify/features.py _human_seconds)
_HANDLE = re.compile(r"^handle time ([0-9.]+) (min|h|days)$")
_HANDLE_UNITS = {"min": 60, "h": 3600, "days": 86400}
# store.py's quarantine reasons, by the words before the quoted value (report/data.py groups by them)
_QUARANTINE = {"missing case_id": "q_missing_case_id", "missing agent_name": "q_missing_agent_name",
               "missing date_creation": "q_missing_date_creation", "bad date_creation": "q_bad_date_creation",
               "bad close_date": "q_bad_close_date", "date_creation": "q_date_creation",
               "close_date": "q_close_date"}

# The Babel locale of each report language: CLDR's separators, percent signs, month names, interval
# and unit patterns and plural rules, instead of hand-kept tables (issue 12 item 8).
LOCALES = {"es": "es", "en": "en"}


@functools.lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    return Locale.parse(LOCALES[lang])


@functools.lru_cache(maxsize=None)
def _pattern(lang: str, kind: str, decimals: int) -> NumberPattern:
    """The locale's decimal or percent pattern with exactly `decimals` fraction digits."""
    loc = _locale(lang)
    pattern = copy.copy(parse_pattern((loc.percent_formats if kind == "percent" else loc.decimal_formats)[None].pattern))
    pattern.frac_prec = (decimals, decimals)
    return pattern


# Babel's formatting is the report's hot spot (tens of thousands of calls on a big night) while the
# values repeat (scores, counts, the period's days, times of day): each formatted text is kept.
@functools.lru_cache(maxsize=1 << 16, typed=True)
def _number_text(lang: str, kind: str, decimals: int, value) -> str:
    return _pattern(lang, kind, decimals).apply(value, _locale(lang))


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _unit_text(lang: str, value, unit: str) -> str:
    return format_unit(value, unit, length="long" if unit == "duration-day" else "short", format="#,##0.#",
                       locale=_locale(lang))


@functools.lru_cache(maxsize=1 << 12)
def _date_text(lang: str, value: date) -> str:
    return format_date(value, "medium", locale=_locale(lang))


@functools.lru_cache(maxsize=1 << 12)
def _time_text(lang: str, hour: int, minute: int) -> str:
    return format_skeleton("Hm", datetime(2000, 1, 1, hour, minute), locale=_locale(lang))


class Formatter:
    """Language-aware formatting of numbers, percentages, scores, durations, dates and plurals (Babel)."""

    def __init__(self, lang: str):
        if lang not in CATALOGUES:
            raise ValueError(f"unknown report language {lang!r}")
        self.lang = lang
        self.catalogue = CATALOGUES[lang]
        self.locale = _locale(lang)

    def t(self, key: str, **values: object) -> str:
        """The catalogue string `key`, with {placeholders} filled (a missing key is a KeyError)."""
        text = self.catalogue[key]
        if isinstance(text, dict):
            raise TypeError(f"catalogue key {key!r} has plural forms: use Formatter.plural")
        return text.format(**values) if values else text

    def plural(self, key: str, count: int | float, **values: object) -> str:
        """The form of `key` for `count` by the language's plural rules, {n} filled with `count` formatted.

        "1 día" / "2 días", "1 day" / "2 days"; a catalogue entry is {plural category: text}.
        """
        forms = self.catalogue[key]
        text = forms.get(self.locale.plural_form(abs(count)), forms["other"])
        return text.format(n=self.num(count, 0 if float(count).is_integer() else 1), **values)

    def label(self, key: str, default: str) -> str:
        """The catalogue string `key` when there is one (metric names...), else `default`."""
        text = self.catalogue.get(key, default)
        return text if isinstance(text, str) else default

    def num(self, value: float | int | None, decimals: int = 0) -> str:
        """1234567.8 → '1.234.567,8' (es) or '1,234,567.8' (en); None → '–'."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "–"
        return _number_text(self.lang, "decimal", decimals, value)

    def _bounded(self, value: float, top: float, decimals: int, kind: str = "decimal") -> str:
        """Format a value in [0, top] never showing 0 or `top` unless it is exactly that."""
        step = 10 ** -decimals
        shown = round(value, decimals)
        scale = 100 if kind == "percent" else 1  # the percent pattern multiplies by 100
        if shown <= 0 < value:
            return "<" + _number_text(self.lang, kind, decimals, step / scale)
        if shown >= top > value:
            return ">" + _number_text(self.lang, kind, decimals, (top - step) / scale)
        return _number_text(self.lang, kind, decimals, shown / scale)

    def pct(self, fraction: float | None, decimals: int = 0) -> str:
        """0.1234 → '12 %' (es) / '12%' (en); 0.0004 → '<1 %'; 0.9996 → '>99 %'; None → '–'."""
        if fraction is None or not math.isfinite(fraction):
            return "–"
        return self._bounded(fraction * 100, 100, decimals, "percent")

    def score(self, value: float | None) -> str:
        """A 0-100 score with one decimal, honest at the ends like `pct`."""
        if value is None or not math.isfinite(value):
            return "–"
        return self._bounded(value, 100, 1)

    def signed(self, value: float | None, decimals: int = 1) -> str:
        """+3,2 / −1,5 (a real minus sign); None → '–'."""
        if value is None or not math.isfinite(value):
            return "–"
        text = self.num(abs(value), decimals)
        if not any(c in "123456789" for c in text):
            return text
        return ("+" if value > 0 else "\u2212") + text

    def ratio(self, value: float) -> str:
        """2.14 → '2,1×'."""
        return self.num(value, 1) + "\u00d7"

    def duration(self, seconds: float | None) -> str:
        """A length of time in the unit a reader thinks in: '45 s', '59 min', '37,4 h', '3,1 días'."""
        if seconds is None or not math.isfinite(seconds):
            return "–"
        size = abs(seconds)
        unit, value = (("duration-second", size) if size < 120 else ("duration-minute", size / 60) if size < 3600
                       else ("duration-hour", size / 3600) if size < 2 * 86400 else ("duration-day", size / 86400))
        value = round(value) if unit in ("duration-second", "duration-minute") else round(value, 1)
        text = _unit_text(self.lang, value, unit)
        return ("\u2212" if seconds < 0 and value else "") + text

    def field(self, name: str | None) -> str:
        """A column's name as the reader knows it ('closed_at' → 'Cierre'); an unknown one as is."""
        if not name:
            return ""
        text = self.catalogue.get(f"f_{name}")
        return text if isinstance(text, str) else name

    def evidence(self, text: str | None, kind: str = "") -> str:
        """Evidence as the page shows it: a measured value ('134804 s (max 86400 s)', as the rules engine
        stores it) in the report's words and units ('37,4 h (máx. 24 h)'); a text as it is."""
        if not text:
            return text or ""
        match = _MEASURED.match(text) if kind in ("duration", "length") else None
        if not match:
            return text
        value, unit = float(match[1]), match[2]
        if unit == "s":
            shown = self.duration
        else:
            def shown(v, key="chars_n" if unit == "chars" else "words_n"):
                return self.plural(key, v)
        bounds = []
        for part in match[3].split(", "):
            side, _, number = part.partition(" ")
            bound = float(number)
            bounds.append(self.t(f"ev_{side}", value=self.duration(bound) if unit == "s" else self.num(bound, 0 if bound.is_integer() else 1)))
        return self.t("ev_measured", value=shown(value), bounds=", ".join(bounds))

    def term(self, term) -> str:
        """A word behind a prediction (report.data.Term) in the report's language."""
        kind, text = getattr(term, "kind", ""), getattr(term, "text", str(term))
        if kind == "rule":
            return self.t("term_rule", rule=text)
        if kind in ("channel", "skill"):
            return self.t(f"term_{kind}", value=text)
        if kind == "handle":
            match = _HANDLE.match(text)
            if match:
                return self.t("term_handle", time=self.duration(float(match[1]) * _HANDLE_UNITS[match[2]]))
            return self.t("term_no_close") if text in ("no close time", "missing") else self.t("term_handle_any")
        return text

    def quarantine_reason(self, kind: str) -> str:
        """A quarantine reason's kind ('bad date_creation', the words before the quoted value) in words."""
        key = _QUARANTINE.get(kind)
        if key is None and kind.startswith("row is a"):
            key = "q_not_object"
        elif key is None and kind.startswith("row has"):
            key = "q_field_count"
        return self.t(key) if key else kind

    def date(self, value: date | None) -> str:
        """15 oct 2026 (es) / Oct 15, 2026 (en)."""
        if value is None:
            return "–"
        return _date_text(self.lang, value.date() if isinstance(value, datetime) else value)

    def short_date(self, value: date) -> str:
        """15 oct (es) / Oct 15 (en), for chart axes."""
        return format_skeleton("MMMd", value, locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "–"
        return f"{self.date(value.date())} {_time_text(self.lang, value.hour, value.minute)}"

    def date_range(self, since: date, until: date) -> str:
        """'15 oct – 13 nov 2026' (es) / 'Oct 15 – Nov 13, 2026' (en); one day is one date."""
        return format_interval(since, until, "yMMMd", locale=self.locale)

    def period(self, since: date, until: date) -> str:
        """The report period with its length: '13 nov 2026 (1 día)', 'Oct 15 – Nov 13, 2026 (30 days)'."""
        days = (until - since).days + 1
        return self.t("period_range", range=self.date_range(since, until), days=self.plural("days_n", days))
