#!/usr/bin/env python3
"""Generate the bundled qa-scoring sample: Wolkvox ``chat_4``-shaped interactions with planted signal.

Stdlib only and deterministic: the same arguments give the same output bytes on every run (a
``random.Random`` per block of rows, seeded from the run seed; only ``random()``/``getrandbits()``
draws; no clock; no set iteration). Blocks are independent, so ``--jobs 2`` writes the same bytes.

    python data/generate_sample.py                       # data/sample/chat_4_sample.{json,csv}
    python data/generate_sample.py --rows 1000000 --days 31 --out /tmp/big.ndjson --format ndjson
    python data/generate_sample.py --stats               # print the sample's planted-signal stats

Benchmarks import it by path and call ``generate_rows(n, days, seed, start)``, which yields one
dict per row (the 17 chat_4 fields, all strings, in API order), streaming block by block.
What is planted, per agent and per behaviour, is described in data/README.md.
"""
from __future__ import annotations

import argparse
import base64
import bisect
import csv
import datetime as dt
import io
import json
import math
import os
import sys
import time
from collections import deque
from random import Random
from typing import Iterator, NamedTuple

FIELDS = (
    "channel", "agent_name", "skill_id", "case_id", "subject", "from", "to", "body", "answer",
    "date_creation", "close_date", "evaluation_survey", "cod_act", "cod_description", "comments",
    "attachments", "status",
)
DEFAULT_SEED = 20261015
DEFAULT_START = "2026-10-15"
DEFAULT_ROWS = 3000
DEFAULT_DAYS = 30
CSV_SAMPLE_ROWS = 1000  # the bundled CSV holds the first rows of the JSON (size budget: 5 MB)
BLOCK_ROWS = 5000       # rows per independently seeded block (the unit of streaming and of work)
HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_DIR = os.path.join(HERE, "sample")

# --------------------------------------------------------------------------------------------
# Agents and their behaviour propensities (the planted signal; see data/README.md).
# --------------------------------------------------------------------------------------------


class Agent(NamedTuple):
    """One agent's name, the first name they introduce themselves with, volume and propensities."""

    name: str
    first: str
    weight: float   # relative share of interactions
    p_en: float     # share of English conversations
    greet: float    # greets the customer
    close: float    # uses a closing phrase
    intro: float    # states their own name
    empathy: float  # uses an empathy / courtesy phrase
    curt: float     # curt, dismissive answer ("eso no se puede", "ya le dije", ...)
    caps: float     # shouts: answer in ALL CAPS
    pci: float      # asks for / echoes a full card number and CVV (PCI critical)
    late: float     # answers/closes late (hours for chat, days for email)
    empty: float    # closes without any answer


AGENTS = (
    #      name                        first           wt    en    greet close intro emp  curt  caps  pci   late  empty
    Agent("María José Gómez",          "María José",   1.2, .06, .95, .93, .88, .80, .02, .00, .00, .04, .02),
    Agent("Juan Carlos Pérez",         "Juan Carlos",  1.1, .06, .92, .88, .80, .65, .03, .00, .00, .05, .03),
    Agent("Ana Lucía Martínez",        "Ana",          1.0, .06, .96, .94, .90, .90, .01, .00, .00, .04, .02),
    Agent("Andrés Felipe Rodríguez",   "Andrés",       1.0, .06, .30, .25, .20, .12, .50, .00, .00, .08, .06),
    Agent("Luz Ángela Muñoz",          "Luz Ángela",   1.0, .06, .92, .90, .82, .70, .03, .00, .00, .05, .03),
    Agent("Sebastián Ortiz",           "Sebastián",    1.0, .06, .90, .85, .75, .60, .04, .00, .00, .45, .04),
    Agent("Camila Hernández",          "Camila",       1.0, .45, .95, .93, .90, .80, .02, .00, .00, .05, .02),
    Agent("Jhon Jairo Castaño",        "Jhon Jairo",   0.9, .06, .40, .30, .25, .10, .55, .00, .00, .10, .08),
    Agent("Valentina Ríos Peña",       "Valentina",    1.0, .06, .93, .90, .85, .75, .03, .00, .00, .05, .03),
    Agent("Óscar Iván Londoño",        "Óscar",        0.9, .06, .85, .80, .70, .50, .08, .30, .00, .06, .03),
    Agent("Daniela Suárez",            "Daniela",      1.0, .06, .92, .90, .85, .70, .03, .00, .06, .05, .03),
    Agent("Néstor Raúl Beltrán",       "Néstor",       0.9, .06, .70, .30, .50, .30, .15, .00, .00, .35, .18),
)
INSULTING_AGENTS = (AGENTS[7], AGENTS[3])  # Jhon Jairo Castaño (70%), Andrés Felipe Rodríguez
NIGHT_AGENT = Agent("Soporte N2 / Turno noche", "Soporte N2", 0.0, .10, .60, .55, .10, .40,
                    .10, .00, .00, .20, .06)

# --------------------------------------------------------------------------------------------
# Planted phrases. Rules must catch these; the README lists them. {n} = agent's first name.
# --------------------------------------------------------------------------------------------
# Agent greetings by part of day: morning (< 12 h), afternoon (12-18 h), evening (>= 19 h).
GREET_ES_BY_PART = (("Buenos días", "Buenos días", "Hola, buen día", "Hola", "Cordial saludo"),
                    ("Buenas tardes", "Buenas tardes", "Hola", "Cordial saludo"),
                    ("Buenas noches", "Buenas noches", "Hola"))
GREET_EN_BY_PART = (("Hello, good morning", "Hello", "Hi"), ("Good afternoon", "Hello", "Hi"),
                    ("Good evening", "Hello", "Hi"))
GREETINGS_ES = tuple(dict.fromkeys(g for part in GREET_ES_BY_PART for g in part))
GREETINGS_EN = tuple(dict.fromkeys(g for part in GREET_EN_BY_PART for g in part))
CUST_GREET_ES_BY_PART = (("Buenos días", "Hola", "buenas", "Hola buen día", "buen dia"),
                         ("Buenas tardes", "Hola", "buenas", "Muy buenas tardes"),
                         ("Buenas noches", "Hola", "buenas"))
INTRO_ES = ("le habla {n}", "mi nombre es {n}", "le saluda {n}", "soy {n}, asesor(a) de servicio al cliente")
INTRO_EN = ("my name is {n}", "this is {n}", "I'm {n} from customer service")
EMPATHY_ES = ("Lamento los inconvenientes presentados.", "Entiendo su molestia.",
              "Comprendo su situación y le pido disculpas.", "Lamento mucho lo sucedido.")
COURTESY_ES = ("Con gusto le ayudo.", "Con mucho gusto reviso su caso.", "Con gusto le colaboro.")
EMPATHY_EN = ("I'm sorry for the inconvenience.", "I understand your frustration.",
              "I apologize for the trouble.")
COURTESY_EN = ("Happy to help.", "Glad to help you with that.")
CLOSINGS_ES = ("¿Hay algo más en lo que pueda ayudarle?", "Que tenga un excelente día.",
               "Fue un gusto atenderle, que tenga un feliz día.", "Quedamos atentos a cualquier inquietud.",
               "¿Le puedo colaborar en algo más?", "Gracias por comunicarse con TeleAndina.")
CLOSINGS_EN = ("Is there anything else I can help you with?", "Have a great day.",
               "Thank you for contacting TeleAndina.")
CURT_ES = ("Eso no se puede.", "No es mi problema.", "Ya le dije.", "Es política de la empresa.",
           "Ya le dije que no.", "Lea bien lo que le escribí.", "No hay nada que hacer.",
           "Llame a la línea.", "Eso no es conmigo.")
CURT_EN = ("That's not possible.", "Not my problem.", "I already told you.", "It's company policy.",
           "Nothing I can do.", "Call the hotline.")
INSULTS_ES = ("¿Usted es bruto o qué? Ya le expliqué.", "No sea ignorante, lea bien.",
              "Qué cliente tan idiota, no entiende nada.")
PCI_ES = ("Para validar, me confirma el número completo de su tarjeta {card} y el CVV por favor.",
          "Envíeme el número completo de la tarjeta y el código de seguridad (CVV) para aplicar el pago.",
          "Confirmo los datos: tarjeta {card}, fecha de vencimiento {exp}, CVV {cvv}.")
PCI_EN = ("Please confirm your full card number {card} and the CVV.",)
CARDS = ("4111 1111 1111 1111", "4111111111111111", "5500 0000 0000 0004", "4242-4242-4242-4242")
ANGRY_ES = ("Pésimo servicio.", "Estoy muy molesto.", "Quiero cancelar el servicio.", "Esto es terrible.",
            "Es el colmo, ya es la tercera vez que escribo.", "Son unos ladrones.",
            "Qué falta de respeto.", "Llevo una semana esperando y nadie me responde.",
            "Voy a poner una queja en la Superintendencia.", "Estoy muy molesta con ustedes.")
ANGRY_EN = ("Terrible service.", "I'm very upset.", "I want to cancel my account.",
            "This is unacceptable.", "Worst customer service ever.")
NEGATED_ES = ("No estoy molesto, solo quiero entender el cobro.", "No tengo queja del servicio, solo una duda.",
              "No es un reclamo, es una consulta.", "No estoy molesta, tranquilos.")
NEGATED_EN = ("I'm not upset, just curious.", "No complaints, just a question.")
ANGRY_EMOJI = ("😡", "🤬", "😤", "😠😠", "👎")
HAPPY_EMOJI = ("🙏", "👍", "😊", "🙂", "🙏🏻")
LATE_FOLLOWUPS_ES = ("¿Hola? ¿Alguien me atiende?", "Sigo esperando respuesta.", "???",
                     "Hace horas escribí y nada.", "¿Me van a responder o no?")
LATE_FOLLOWUPS_EN = ("Hello? Anyone there?", "Still waiting for an answer.")

# Every planted phrase by behaviour, for rule tests ({n} = agent's first name, {card}/{exp}/{cvv}
# filled in). The README lists the same.
PLANTED_PHRASES = {
    "greeting": GREETINGS_ES + GREETINGS_EN,
    "agent_name": INTRO_ES + INTRO_EN,
    "empathy": EMPATHY_ES + COURTESY_ES + EMPATHY_EN + COURTESY_EN,
    "closing": CLOSINGS_ES + CLOSINGS_EN,
    "curt": CURT_ES + CURT_EN,
    "insult": INSULTS_ES,
    "pci": PCI_ES + PCI_EN,
    "customer_angry": ANGRY_ES + ANGRY_EN,
    "customer_negated": NEGATED_ES + NEGATED_EN,
    "customer_waiting": LATE_FOLLOWUPS_ES + LATE_FOLLOWUPS_EN,
}

# Hostile strings for escaping/injection tests (HTML, templates, SQL, CSV formulas, Unicode).
HOSTILE = (
    "<script>alert(1)</script>",
    "Tom &amp; Jerry &lt;b&gt;negrita&lt;/b&gt;",
    "Dice \"urgente\" y también 'muy urgente'",
    "{{ 7*7 }}",
    "{% raw %}",
    "<a href=\"javascript:alert(1)\">ver factura</a>",
    "<img src=x onerror=alert(1)>",
    "</textarea></td></table><b>roto</b>",
    "'; DROP TABLE interactions; --",
    "=HYPERLINK(\"http://example.invalid\",\"clic\")",
    "${7*7} #{7*7} {{config}}",
    "texto con \u200bespacio de ancho cero y \u202etexto invertido\u202c",
    "\\u0000 barra invertida \\ y \\n literal",
)

# --------------------------------------------------------------------------------------------
# Vocabulary for the conversations.
# --------------------------------------------------------------------------------------------
FIRST_NAMES = ("Carlos", "Luisa", "Jorge", "Paola", "Diego", "Natalia", "Alejandro", "Marcela", "Julián",
               "Catalina", "Santiago", "Gloria", "Édgar", "Sofía", "Hernán", "Lucía", "Mauricio", "Yolanda",
               "Fabián", "Ximena", "Germán", "Adriana", "Wílmer", "Johana", "Ramiro", "Íngrid", "Nicolás",
               "Beatriz", "Camilo", "Mónica", "Tatiana", "Efraín")
LAST_NAMES = ("García", "López", "Ramírez", "Torres", "Díaz", "Vargas", "Rojas", "Moreno", "Jiménez",
              "Castro", "Gutiérrez", "Sánchez", "Ortega", "Peña", "Cárdenas", "Quintero", "Zapata",
              "Arango", "Giraldo", "Ospina", "Mejía", "Restrepo", "Núñez", "Acuña")
EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.es", "une.net.co", "empresa.com.co")
PLANS = ("plan Hogar 300 megas", "plan Hogar 500 megas", "plan Móvil Ilimitado", "plan Dúo TV + internet",
         "plan Prepago Recargable", "plan Fibra 1 Giga")

# Topic -> (skill weights, cod_description options)
SKILLS = (("0012", "Ventas"), ("0034", "Servicio al cliente"), ("0007", "Soporte técnico"),
          ("PQR1", "Peticiones, quejas y reclamos"))
TOPICS = ("CONSULTA", "SOPORTE", "RECLAMO", "VENTA", "GENERAL")
TOPIC_W = (0.30, 0.25, 0.20, 0.17, 0.08)
TOPIC_SKILL = {"CONSULTA": "0034", "SOPORTE": "0007", "RECLAMO": "PQR1", "VENTA": "0012", "GENERAL": "0034"}
COD_DESC = {
    "VENTA": ("Venta nueva", "Upgrade de plan", "Venta no concretada", "Portabilidad"),
    "RECLAMO": ("Cobro indebido", "Factura duplicada", "Demora en instalación", "Solicitud de reembolso"),
    "CONSULTA": ("Información de planes", "Estado de pedido", "Horarios y puntos de pago", "Consulta de saldo"),
    "SOPORTE": ("Falla de conexión", "Restablecer contraseña", "Configuración de equipo", "Visita técnica"),
    "GENERAL": ("Saludo sin gestión", "Otros", "Spam", "Cliente no responde"),
}
P_ANGRY = {"RECLAMO": 0.55, "SOPORTE": 0.30, "CONSULTA": 0.10, "VENTA": 0.08, "GENERAL": 0.12}

REQ_ES = {
    "CONSULTA": ("Quisiera saber el estado de mi pedido {pedido}.", "¿Cuál es el horario de atención de las oficinas?",
                 "¿Dónde puedo pagar la factura?", "Quiero saber cuánto debo, mi cuenta es {cuenta}.",
                 "¿Me pueden dar información del {plan}?", "¿Cuándo llega la factura de este mes?"),
    "SOPORTE": ("No tengo internet desde ayer.", "El módem parpadea en rojo y no navega.",
                "La app no me deja ingresar, dice contraseña inválida.", "La señal de TV se congela a cada rato.",
                "El internet está muy lento, contraté {plan} y no llega ni a la mitad.",
                "Necesito cambiar la clave del wifi y no sé cómo."),
    "RECLAMO": ("Me llegó la factura duplicada este mes.", "Me cobraron dos veces el mismo mes, {monto}.",
                "Me hicieron un cobro indebido de {monto} que no reconozco.",
                "Pagué hace {dias} días y sigue apareciendo la deuda.",
                "Solicité la devolución de {monto} y no me han devuelto el dinero.",
                "La instalación era para el {fecha} y nunca llegó el técnico."),
    "VENTA": ("Me interesa adquirir el {plan}, ¿qué precio tiene?", "Quiero cambiarme al {plan}.",
              "¿Tienen cobertura de fibra en el barrio Laureles?", "Quiero pasar mi línea de otro operador.",
              "¿Qué promociones tienen para clientes nuevos?"),
    "GENERAL": ("Hola", "Buenas", "Gracias", "Ok", "¿Con quién hablo?", "Necesito ayuda"),
}
REQ_EN = {
    "CONSULTA": ("I'd like to know the status of my order {pedido}.", "Where can I pay my bill?",
                 "Can you give me information about the {plan}?"),
    "SOPORTE": ("My internet has been down since yesterday.", "The router light is blinking red.",
                "I can't log into the app."),
    "RECLAMO": ("I was charged twice this month, {monto}.", "I got a duplicate invoice.",
                "I requested a refund of {monto} and never got it."),
    "VENTA": ("I'm interested in the {plan}, how much is it?", "I want to switch to the {plan}."),
    "GENERAL": ("Hello", "Hi", "Thanks", "I need help"),
}
RESOLVED_ES = {
    "CONSULTA": ("Su pedido {pedido} se encuentra en ruta y llega mañana entre 8 a. m. y 5 p. m.",
                 "Puede pagar en la app, en bancos aliados o en cualquier punto Efecty con su número de cuenta {cuenta}.",
                 "Le comparto la información del {plan}: velocidad simétrica, sin cláusula de permanencia."),
    "SOPORTE": ("Realicé un reinicio remoto del equipo y ya se ve en línea, por favor valide la navegación.",
                "Ya quedó restablecida su contraseña, le llegará un correo con la clave temporal.",
                "Se agendó la visita técnica para el {fecha} en la mañana, el técnico le llamará antes."),
    "RECLAMO": ("Validé el caso y se aplicó el ajuste de {monto} en su próxima factura.",
                "Ya se generó la devolución de {monto}, se verá reflejada en 5 días hábiles.",
                "Se anuló la factura duplicada, su cuenta quedó al día."),
    "VENTA": ("El {plan} tiene un valor de {monto} mensuales, ya quedó registrada su solicitud.",
              "Listo, ya quedó programada la instalación del {plan} para el {fecha}."),
    "GENERAL": ("Con gusto, quedo atento(a) a su consulta.", "Claro que sí, cuénteme en qué le puedo ayudar."),
}
UNRESOLVED_ES = {
    "CONSULTA": ("Debe acercarse a un punto de atención con su documento.",
                 "Esa información no la tengo en el sistema, debe llamar a la línea 01 8000."),
    "SOPORTE": ("Su caso será escalado al área técnica, el tiempo de respuesta es de 72 horas hábiles.",
                "Hay una falla masiva en su sector, no tenemos fecha de solución."),
    "RECLAMO": ("Debe radicar una solicitud por la página web, el tiempo de respuesta es de 15 días hábiles.",
                "No es posible hacer la devolución, el cobro es correcto según el sistema.",
                "Su caso fue escalado, por ahora debe pagar la factura completa."),
    "VENTA": ("No tenemos cobertura en su dirección por el momento.",
              "Esa promoción ya no está vigente."),
    "GENERAL": ("No entiendo su solicitud, por favor escriba de nuevo.",),
}
RESOLVED_EN = {
    "CONSULTA": ("Your order {pedido} is on its way and arrives tomorrow.", "You can pay in the app or at any partner bank."),
    "SOPORTE": ("I rebooted your router remotely and it is online now.", "Your password has been reset."),
    "RECLAMO": ("I applied a credit of {monto} to your next bill.", "The refund of {monto} was processed."),
    "VENTA": ("The {plan} costs {monto} per month; your order is registered.",),
    "GENERAL": ("Sure, tell me how I can help.",),
}
UNRESOLVED_EN = {
    "CONSULTA": ("You need to visit one of our stores with your ID.",),
    "SOPORTE": ("Your case was escalated; response time is 72 business hours.",),
    "RECLAMO": ("A refund is not possible; the charge is correct according to our system.",),
    "VENTA": ("We have no coverage at your address.",),
    "GENERAL": ("I don't understand your request.",),
}
COMMENTS_OK = {
    "CONSULTA": ("Se brinda información solicitada.", "Se informa estado del pedido.", "Gestión exitosa."),
    "SOPORTE": ("Se realiza reinicio remoto, cliente confirma navegación.",
                "Se envía clave temporal al correo registrado.", "Se agenda visita técnica."),
    "RECLAMO": ("Se valida y se aplica ajuste en factura.", "Se genera nota crédito.", "Gestión exitosa."),
    "VENTA": ("Venta registrada, pendiente instalación.", "Se envía cotización al correo.", "Gestión exitosa."),
    "GENERAL": ("Se brinda información solicitada.", "Gestión exitosa."),
}
DETAILS_ES = {
    "CONSULTA": ("Lo pedí por la página web hace {dias} días.", "Necesito saberlo para organizar el pago.",
                 "Me dijeron por teléfono que llegaba el {fecha}."),
    "SOPORTE": ("Ya reinicié el módem dos veces y sigue igual.", "Trabajo desde la casa y necesito el servicio urgente.",
                "El técnico vino la semana pasada y no solucionó nada.", "La luz de internet está apagada."),
    "RECLAMO": ("Adjunto el comprobante de pago.", "Tengo el soporte del débito en mi cuenta de ahorros.",
                "Ya había llamado a la línea y me dijeron que escribiera por aquí.",
                "El valor no corresponde a lo que me ofrecieron cuando contraté."),
    "VENTA": ("Vivo en un apartamento en estrato 3.", "Actualmente tengo otro operador pero el contrato se me vence.",
              "Me interesa si tiene instalación gratis."),
    "GENERAL": ("Es para una consulta rápida.",),
    "*": ("La dirección es Calle {dias} # 23-10, Medellín.", "Les escribo desde el celular de mi esposo.",
          "Mi cédula es 1.0{cuenta}.", "Pueden llamarme después de las 5."),
}
HOLD_ES = ("Permítame un momento mientras valido la información.", "Ya reviso su cuenta, un momento por favor.",
           "Voy a verificar en el sistema.", "Con el número de cuenta ya puedo revisar.")
HOLD_EN = ("Let me check that for you, one moment please.", "Give me a moment to review your account.")
EMAIL_DISCLAIMER = ("Este mensaje y sus anexos son confidenciales y para uso exclusivo del destinatario. "
                    "Si usted lo recibió por error, por favor notifíquelo al remitente y elimínelo. "
                    "TeleAndina trata sus datos personales conforme a la Ley 1581 de 2012.")
COMMENTS_BAD = ("Se escala a N2, caso {pedido}.", "Se radica PQR.", "Cliente no acepta la solución.",
                "Cliente molesto, solicita hablar con supervisor.", "Cliente insiste en la devolución.",
                "Pendiente respuesta del área de facturación.")
COMMENTS_EMPTY = ("Cierre por inactividad.", "Cliente no responde.", "Se cierra sin gestión.")
COMMENTS_CURT = ("ok", "na", "cerrado", ".", "sin novedad")
EMAIL_SUBJECTS = {
    "CONSULTA": ("Consulta estado de pedido", "Solicitud de información", "Pregunta sobre mi factura", "Consulta"),
    "SOPORTE": ("Falla en el servicio de internet", "Sin servicio desde ayer", "Problema con el módem"),
    "RECLAMO": ("Reclamo factura duplicada", "URGENTE: cobro indebido", "Solicitud de reembolso",
                "Derecho de petición - cobro no reconocido"),
    "VENTA": ("Cotización plan hogar", "Quiero contratar fibra", "Información de planes"),
    "GENERAL": ("(sin asunto)", "Hola", "Fwd: ", ""),
}
EMAIL_SUBJECTS_ANGRY = ("URGENTE!!! Pésimo servicio", "Tercera vez que escribo - cancelación del servicio",
                        "RECLAMO: cobro indebido, exijo respuesta", "Queja formal")
EMAIL_SUBJECTS_EN = ("Billing question", "Internet outage", "Refund request", "URGENT: double charge", "Plan info")
SURVEY_TEXT_OK = ("Satisfecho", "Muy satisfecho", "bueno", "Excelente")
SURVEY_TEXT_BAD = ("Muy insatisfecho", "Insatisfecho", "malo", "Regular")
BLANKS = ("", "", "", "", " ", "-")
CHANNELS = ("whatsapp", "webchat", "Email", "facebook_page", "instagram", "twitter")
CHANNEL_W = (0.45, 0.22, 0.20, 0.06, 0.05, 0.02)
HOUR_W = (0.12, 0.08, 0.06, 0.06, 0.08, 0.15, 0.35, 0.7, 1.1, 1.25, 1.25, 1.15, 0.85, 0.9, 1.1, 1.15,
          1.1, 1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.18)
WEEKDAY_W = (1.0, 1.0, 1.0, 1.0, 0.95, 0.65, 0.35)  # Mon..Sun
HOLIDAYS = {"2026-10-12", "2026-11-02", "2026-11-16", "2026-12-08", "2026-12-25", "2027-01-01"}

MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
             "octubre", "noviembre", "diciembre")
NO_ACCENTS = (("á", "a"), ("é", "e"), ("í", "i"), ("ó", "o"), ("ú", "u"), ("Á", "A"), ("É", "E"), ("Í", "I"),
              ("Ó", "O"), ("Ú", "U"), ("ñ", "n"), ("Ñ", "N"), ("¿", ""), ("¡", ""))


def strip_accents(text: str) -> str:
    """Write like a customer who types without accents or opening marks (str.replace: 10x translate)."""
    for a, b in NO_ACCENTS:
        if a in text:
            text = text.replace(a, b)
    return text


HTML_ENTITIES = (("á", "&aacute;"), ("é", "&eacute;"), ("í", "&iacute;"), ("ó", "&oacute;"),
                 ("ú", "&uacute;"), ("ñ", "&ntilde;"))
LONG_PASTE = ("Términos y condiciones: el usuario acepta que la prestación del servicio está sujeta a "
              "disponibilidad técnica y cobertura; los valores incluyen IVA; la cláusula de permanencia "
              "aplica según el contrato firmado. ")

TRUTH_KEYS = ("agent", "lang", "topic", "angry", "negated", "greet", "close", "intro", "empathy", "curt",
              "caps", "pci", "insult", "late", "empty", "resolved", "satisfied", "surveyed")
MALFORMED_KINDS = ("bad_date", "text_date", "no_agent_blank", "no_agent_dash", "no_case_id",
                   "zero_date", "no_case_id_space", "bad_date")
# Anomalies per 3,000 rows (scaled to n, at least one of each for n >= 50).
# "insult" is planted behaviour, not an anomaly, but scheduled the same way so that its count is exact.
ANOMALY_RATES = (("malformed", 8), ("hostile", 40), ("long", 5), ("dup_exact", 2), ("dup_status", 4),
                 ("insult", 2))

# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def _cumulative(weights) -> list[float]:
    """Return the normalised cumulative weights, for bisect-based sampling."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


AGENT_CUM = _cumulative([a.weight for a in AGENTS])
CHANNEL_CUM = _cumulative(CHANNEL_W)
TOPIC_CUM = _cumulative(TOPIC_W)
HOUR_CUM = _cumulative(HOUR_W)


def _fmt(t: dt.datetime) -> str:
    """Format a timestamp the way the API does: YYYY-MM-DD HH:MM:SS, naive local time."""
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}")


def _day_counts(n: int, days: int, start: dt.date) -> list[int]:
    """Split n rows over the days by weekday/holiday weight (largest-remainder, deterministic)."""
    weights = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        w = WEEKDAY_W[day.weekday()]
        if day.isoformat() in HOLIDAYS:
            w = 0.4
        weights.append(w)
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(x) for x in exact]
    rest = n - sum(counts)
    order = sorted(range(days), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    return counts


class Block(NamedTuple):
    """One independently seeded unit of work: up to BLOCK_ROWS rows of one day.

    A block's rows depend only on its fields, so blocks can be generated in any order or in
    parallel processes and the output is still the same bytes.
    """

    seed: int       # the block's own random seed (derived from the run seed, day and block number)
    ordinal: int    # the day, as date.toordinal()
    secs: tuple     # creation times of its rows, seconds into the day, sorted
    case_seq: int   # first case number; a row advances it by 1-3, so blocks never overlap
    last_day: bool  # the last day of the range has many still-open interactions
    kinds: tuple    # ((index in block, anomaly kind), ...)
    profile: str = "default"  # "default" (the sample's planted signal) or "dense" (see _DenseGen)


def _anomaly_plan(n: int, counts: list[int], rng: Random, anomalies: bool = True) -> dict[int, str]:
    """Choose which row positions carry an anomaly (exact counts scaled to n).

    With anomalies=False only the scheduled behaviour (insults) is planned.
    """
    plan: dict[int, str] = {}
    if n < 50:
        return plan
    starts, acc = [], 0
    for k in counts:
        starts.append(acc)
        acc += k
    for kind, per3000 in ANOMALY_RATES:
        if not anomalies and kind != "insult":
            continue
        k = max(1, round(n * per3000 / 3000))
        placed = tries = 0
        while placed < k and tries < 100 * k:
            tries += 1
            pos = int(rng.random() * n)
            if pos in plan:
                continue
            within_day = pos - starts[bisect.bisect_right(starts, pos) - 1]
            if kind.startswith("dup") and within_day % BLOCK_ROWS < 10:
                continue  # a duplicate copies an earlier row of its own block
            plan[pos] = kind
            placed += 1
    # Name the malformed kinds in position order, so that every kind appears.
    for i, pos in enumerate(sorted(p for p, kind in plan.items() if kind == "malformed")):
        plan[pos] = "malformed:" + MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
    return plan


def _blocks(n: int, days: int, seed: int, start: str | dt.date, anomalies: bool,
            profile: str = "default") -> Iterator[Block]:
    """Yield the blocks of a run in output order (day by day; time-sorted within a day)."""
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    rng = Random(seed)
    r = rng.random
    counts = _day_counts(n, days, start)
    plan = _anomaly_plan(n, counts, rng, anomalies)
    pos, case_seq = 0, 4_800_000
    for d, k in enumerate(counts):
        ordinal = (start + dt.timedelta(days=d)).toordinal()
        secs = sorted([bisect.bisect_left(HOUR_CUM, r()) * 3600 + int(r() * 3600) for _ in range(k)])
        for b, i in enumerate(range(0, k, BLOCK_ROWS)):
            part = tuple(secs[i:i + BLOCK_ROWS])
            kinds = tuple((p - pos, plan[p]) for p in range(pos, pos + len(part)) if p in plan)
            yield Block((seed * 1_000_003 + d) * 1_000_003 + b, ordinal, part, case_seq,
                        d == days - 1, kinds, profile)
            pos += len(part)
            case_seq += 3 * len(part)


def _gen_block(block: Block) -> list[tuple[dict, tuple, str]]:
    """Generate one block: a list of (row, truth tuple, anomaly kind)."""
    gen = (_DenseGen if block.profile == "dense" else _Gen)(block.seed, block.case_seq)
    day = dt.date.fromordinal(block.ordinal)
    kinds = dict(block.kinds)
    recent: deque = deque(maxlen=300)
    out = []
    for i, s in enumerate(block.secs):
        kind = kinds.get(i, "")
        if kind == "dup_exact" and recent:
            row, truth = recent[int(gen.r() * len(recent))]
            out.append((dict(row), truth, kind))
            continue
        if kind == "dup_status" and recent:
            opens = [x for x in recent if x[0]["status"] == "open"]
            row, truth = opens[-1] if opens else recent[int(gen.r() * len(recent))]
            out.append((_later_status(row, truth[TRUTH_KEYS.index("satisfied")], gen), truth, kind))
            continue
        row, truth = gen.interaction(day, s, block.last_day, insult=kind == "insult")
        if kind == "hostile":
            gen.make_hostile(row)
        elif kind == "long":
            gen.make_long(row)
        elif kind.startswith("malformed:"):
            gen.make_malformed(row, kind.split(":", 1)[1])
        if kind == "insult":
            kind = ""  # a normal row (only its behaviour was scheduled)
        if not kind:
            recent.append((row, truth))
        out.append((row, truth, kind))
    return out


class _Gen:
    """Holds the random state and draws one interaction at a time."""

    def __init__(self, seed: int, case_seq: int):
        self.rng = Random(seed)
        self.r = r = self.rng.random
        # pick(seq): one element of seq, uniform, one random() draw (a closure: cheaper than a method).
        self.pick = lambda seq: seq[int(r() * len(seq))]
        self.case_seq = case_seq
        self.prefixes: dict[int, str] = {}
        self.today = dt.date(2026, 10, 15)

    def fill(self, text: str) -> str:
        """Fill the {slot} placeholders present in text (only those: this is the hot path)."""
        if "{" not in text:
            return text
        r = self.r
        if "{pedido}" in text:
            text = text.replace("{pedido}", f"PED-{int(r() * 900000) + 100000}")
        if "{cuenta}" in text:
            text = text.replace("{cuenta}", str(int(r() * 90000000) + 10000000))
        if "{plan}" in text:
            text = text.replace("{plan}", PLANS[int(r() * len(PLANS))])
        if "{monto}" in text:
            text = text.replace("{monto}", f"${int(r() * 180) * 1000 + 39000:,}".replace(",", "."))
        if "{dias}" in text:
            text = text.replace("{dias}", str(int(r() * 20) + 3))
        if "{fecha}" in text:
            d = self.today + dt.timedelta(days=int(r() * 10) + 1)
            text = text.replace("{fecha}", f"{d.day} de {MONTHS_ES[d.month - 1]}")
        if "{card}" in text:
            text = text.replace("{card}", CARDS[int(r() * len(CARDS))])
        if "{exp}" in text:
            text = text.replace("{exp}", f"{int(r() * 12) + 1:02d}/{int(r() * 5) + 27}")
        if "{cvv}" in text:
            text = text.replace("{cvv}", str(int(r() * 900) + 100))
        return text

    # ---- one interaction -----------------------------------------------------------------
    def stamp(self, ordinal: int, secs: int) -> str:
        """Format day `ordinal` + `secs` seconds as the API does (cached date prefixes: hot path)."""
        ordinal += secs // 86400
        secs %= 86400
        prefix = self.prefixes.get(ordinal)
        if prefix is None:
            prefix = self.prefixes[ordinal] = dt.date.fromordinal(ordinal).isoformat() + " "
        return prefix + _HMS[secs]

    def interaction(self, day: dt.date, sec: int, last_day: bool, insult: bool = False
                    ) -> tuple[dict, tuple]:
        """Draw one interaction created `sec` seconds into `day`: the API row and its truth flags.

        insult=True plants an insult (scheduled rows, see ANOMALY_RATES): a Spanish conversation
        of one of the two curt agents.
        """
        r, pick = self.r, self.pick
        self.today = day
        hour = sec // 3600
        night = hour < 7 or hour >= 21
        if insult:
            agent = INSULTING_AGENTS[0] if r() < 0.7 else INSULTING_AGENTS[1]
        elif night and r() < 0.35:
            agent = NIGHT_AGENT
        else:
            agent = AGENTS[bisect.bisect_left(AGENT_CUM, r())]
        channel = CHANNELS[bisect.bisect_left(CHANNEL_CUM, r())]
        topic = TOPICS[bisect.bisect_left(TOPIC_CUM, r())]
        en = r() < agent.p_en and not insult
        email = channel == "Email"
        chat = not email

        # Customer side.
        angry = r() < P_ANGRY[topic]
        negated = (not angry) and r() < 0.12
        late = r() < agent.late
        status_r = r()
        status = "open" if status_r < (0.25 if last_day else 0.025) else ("archived" if status_r > 0.88 else "close")
        if insult and status == "open":
            status = "close"

        # Agent behaviour for this interaction.
        curt = r() < agent.curt or insult
        empty = (r() < agent.empty or (status == "open" and r() < 0.6)) and not insult
        greet = (not curt or r() < 0.15) and r() < agent.greet
        close = (not curt) and r() < agent.close
        intro = (not curt) and r() < agent.intro
        empathy = (not curt) and r() < agent.empathy
        caps = r() < agent.caps
        pci = (not en or r() < 0.5) and r() < agent.pci
        resolved = r() < (0.30 if curt else 0.72)
        if empty:
            greet = close = intro = empathy = caps = pci = insult = curt = False
            resolved = False

        cust_first, cust_last = pick(FIRST_NAMES), pick(LAST_NAMES)
        cust_name = f"{cust_first} {cust_last}"
        part = 0 if hour < 12 else (1 if hour < 19 else 2)
        body = self._body(topic, en, email, angry, negated, late and chat, cust_name, part)
        answer = "" if empty else self._answer(agent, topic, en, email, chat, greet, close, intro,
                                               empathy, curt, caps, pci, insult, resolved, angry,
                                               late, cust_first, part)

        # Time to close. Normal: chat 2-42 min, social 5 min-3 h, email 30 min-9.5 h.
        # Late: chat 2-30 h, social 4-32 h, email 1.5-5.5 days.
        if late:
            if email:
                secs = int(r() * 4 * 86400) + 36 * 3600
            else:
                secs = int(r() * 28 * 3600) + (2 if channel in ("whatsapp", "webchat") else 4) * 3600
        elif email:
            secs = int(r() * 9 * 3600) + 1800
        elif channel in ("whatsapp", "webchat"):
            secs = int(r() * 40 * 60) + 120
        else:
            secs = int(r() * 3 * 3600) + 300
        ordinal = day.toordinal()
        close_date = "" if status == "open" else self.stamp(ordinal, sec + secs)

        # Satisfaction (latent) and the survey.
        logit = 2.4
        logit -= 1.7 if angry else 0.0
        logit += 0.3 if negated else 0.0
        logit -= 2.2 if curt else 0.0
        logit -= 2.5 if insult else 0.0
        logit -= 0.7 if not greet else 0.0
        logit -= 0.7 if not close else 0.0
        logit += 0.3 if empathy else 0.0
        logit -= 1.8 if late else 0.0
        logit -= 2.5 if empty else 0.0
        logit -= 2.3 if caps else 0.0
        logit += 0.8 if resolved else -1.1
        p_sat = 1.0 / (1.0 + math.exp(-logit))
        satisfied = r() < p_sat
        surveyed = status != "open" and r() < (0.28 if satisfied else 0.34)
        survey = self._survey(satisfied) if surveyed else pick(BLANKS)

        # Typification.
        cod_act = topic if topic != "GENERAL" else pick(("GENERAL", "OTROS"))
        cod_desc = pick(COD_DESC[topic])
        cr = r()
        if cr < 0.06:
            cod_act, cod_desc = "", pick(("", "-", " "))
        elif cr < 0.09:
            cod_act = cod_act.lower()
        skill = TOPIC_SKILL[topic] if r() < 0.9 else SKILLS[int(r() * len(SKILLS))][0]
        if topic == "RECLAMO" and r() < 0.2:
            skill = "0034"

        # Comments: the agent's internal note.
        cm = r()
        if empty:
            comments = pick(COMMENTS_EMPTY) if cm < 0.7 else pick(BLANKS)
        elif curt:
            comments = pick(COMMENTS_CURT) if cm < 0.5 else pick(BLANKS)
        elif cm < 0.25:
            comments = pick(BLANKS)
        else:
            comments = self.fill(pick(COMMENTS_OK[topic] if resolved else COMMENTS_BAD))
            if angry and r() < 0.3:
                comments += " Cliente molesto."

        # Addresses and subject.
        self.case_seq += 1 + int(r() * 3)
        case_id = f"{self.case_seq:010d}" if (email or r() < 0.1) else str(self.case_seq)
        frm, to, subject = self._addresses(channel, cust_first, cust_last, topic, angry, en)

        attachments = ""
        ar = r()
        if ar < 0.04:
            attachments = pick(('[{"name":"factura.pdf"}]', '[{"name":"captura_pantalla.png","size":"245678"}]',
                                '[{"name":"cedula.jpg"},{"name":"factura_octubre.pdf"}]',
                                "https://wv0012.wolkvox.com/attachments/chat/IMG-20261020-WA0003.jpg"))
        elif ar < 0.06:
            attachments = pick(BLANKS)

        row = {
            "channel": channel, "agent_name": agent.name, "skill_id": skill, "case_id": case_id,
            "subject": subject, "from": frm, "to": to, "body": body, "answer": answer if answer else pick(BLANKS),
            "date_creation": self.stamp(ordinal, sec), "close_date": close_date, "evaluation_survey": survey,
            "cod_act": cod_act, "cod_description": cod_desc, "comments": comments,
            "attachments": attachments, "status": status,
        }
        truth = (agent.name, "en" if en else "es", topic, angry, negated, greet, close, intro, empathy,
                 curt, caps, pci, insult, late, empty, resolved, satisfied, surveyed)  # TRUTH_KEYS
        return row, truth

    def _survey(self, satisfied: bool) -> str:
        r, pick = self.r, self.pick
        k = r()
        if k < 0.85:
            if satisfied:
                return "5" if r() < 0.65 else "4"
            x = r()
            return "1" if x < 0.45 else ("2" if x < 0.70 else "3")
        if k < 0.89:
            return pick(("4,5", "4.5")) if satisfied else "2,5"
        if k < 0.94:
            return pick(("9", "10", "8")) if satisfied else "6"
        return pick(SURVEY_TEXT_OK if satisfied else SURVEY_TEXT_BAD)

    def _addresses(self, channel, first, last, topic, angry, en):
        r, pick = self.r, self.pick
        if channel == "Email":
            user = strip_accents(f"{first}.{last}".lower()).replace(" ", "")
            if r() < 0.5:
                user += str(int(r() * 99))
            frm = f"{user}@{pick(EMAIL_DOMAINS)}"
            to = "servicioalcliente@teleandina.com.co"
            if en:
                subject = pick(EMAIL_SUBJECTS_EN)
            elif angry and r() < 0.5:
                subject = pick(EMAIL_SUBJECTS_ANGRY)
            else:
                subject = pick(EMAIL_SUBJECTS[topic])
            if r() < 0.1:
                subject = "RE: " + subject
            return frm, to, subject
        name = f"{first} {last}"
        if channel == "whatsapp":
            frm = f"573{int(r() * 10**9):09d}"
            return frm, "573174440000", name if r() < 0.7 else ""
        if channel == "webchat":
            frm = f"web-{self.rng.getrandbits(48):012x}"
            return frm, "webchat_principal", pick((name, "Chat web", "", name))
        if channel == "facebook_page":
            return f"{int(r() * 9e15) + 10**15}", "102938475610293", name
        if channel == "instagram":
            return f"1784{int(r() * 9e13) + 10**13}", "teleandina_co", name
        return f"{int(r() * 9e17) + 10**17}", "@TeleAndinaCo", name

    def _body(self, topic, en, email, angry, negated, late_chat, cust_name, part) -> str:
        r, pick, fill = self.r, self.pick, self.fill
        parts = []
        if en:
            if r() < 0.7:
                parts.append(pick(("Hi", "Hello", ("Good morning", "Good afternoon", "Good evening")[part], "Hey")))
            parts.append(fill(pick(REQ_EN[topic])))
            if angry:
                parts.append(pick(ANGRY_EN))
                if r() < 0.4:
                    parts.append(pick(ANGRY_EN))
            elif negated:
                parts.append(pick(NEGATED_EN))
            if late_chat and r() < 0.75:
                parts.append(pick(LATE_FOLLOWUPS_EN))
            if r() < 0.3:
                parts.append("Thanks" + (" " + pick(HAPPY_EMOJI) if not angry else ""))
        else:
            if r() < 0.75:
                parts.append(pick(CUST_GREET_ES_BY_PART[part]))
            if r() < 0.4 and topic != "GENERAL":
                parts.append(f"Mi nombre es {cust_name}." if r() < 0.5 else
                             f"Soy titular de la cuenta {int(r() * 90000000) + 10000000}.")
            reqs = REQ_ES[topic]
            i = int(r() * len(reqs))
            parts.append(fill(reqs[i]))
            if topic != "GENERAL" and r() < 0.35:
                parts.append(fill(reqs[(i + 1 + int(r() * (len(reqs) - 1))) % len(reqs)]))
            if angry:
                parts.append(pick(ANGRY_ES))
                if r() < 0.45:
                    parts.append(pick(ANGRY_ES))
                if r() < 0.4:
                    parts.append(pick(ANGRY_EMOJI))
            elif negated:
                parts.append(pick(NEGATED_ES))
            if r() < 0.55:
                parts.append(fill(pick(DETAILS_ES[topic])))
                if r() < 0.35:
                    parts.append(fill(pick(DETAILS_ES["*"])))
            if r() < 0.02:
                parts.append(pick(("Mi tarjeta termina en 4321.",
                                   "Les paso mi tarjeta 4111 1111 1111 1111 para que me cobren.")))
            if late_chat and r() < 0.75:
                parts.append(pick(LATE_FOLLOWUPS_ES))
            if r() < 0.3:
                parts.append(pick(("Gracias", "Quedo atento", "Quedo atenta", "Mil gracias")) +
                             (" " + pick(HAPPY_EMOJI) if not angry and r() < 0.5 else ""))
        if email:
            text = self._email_wrap(parts, cust_name, en)
        else:
            sep = pick(("\r\n", "\r\n", " ", " ", "\n"))
            text = sep.join(parts)
        style = r()
        if not en and style < 0.30:
            text = strip_accents(text)                  # customers who write without accents
        if style > (0.85 if angry else 0.97):
            text = text.upper()                         # ALL CAPS customers (more when angry)
        elif 0.30 <= style < 0.45 and not email:
            text = text.lower()
        return text

    def _email_wrap(self, parts, cust_name, en) -> str:
        r, pick = self.r, self.pick
        greet = parts[0] + "," if len(parts) > 1 else "Buenos días,"
        paras = " ".join(parts[1:]) if len(parts) > 1 else parts[0]
        sign = ("Regards,\r\n" if en else pick(("Quedo atento a su respuesta.\r\n", "Cordialmente,\r\n",
                                                "Gracias.\r\n", ""))) + cust_name
        text = f"{greet}\r\n\r\n{paras}\r\n\r\n{sign}"
        if r() < 0.25:
            text += "\r\n\r\nEnviado desde mi iPhone"
        if r() < 0.15:
            text += (f"\r\n\r\nEl lun, 19 oct 2026 a las 10:15, TeleAndina <servicioalcliente@teleandina.com.co> escribió:"
                     f"\r\n> Estimado cliente, su solicitud fue recibida.\r\n> Cordialmente, Servicio al Cliente")
        if r() < 0.25:  # some mail clients send HTML
            for a, b in HTML_ENTITIES:
                text = text.replace(a, b)
            text = "<div dir=\"ltr\">" + text.replace("\r\n\r\n", "</div><div><br></div><div>") \
                .replace("\r\n", "<br>") + "</div>"
        return text

    def _answer(self, agent, topic, en, email, chat, greet, close, intro, empathy, curt, caps, pci,
                insult, resolved, angry, late, cust_first, part) -> str:
        r, pick, fill = self.r, self.pick, self.fill
        turns = []
        opener = []
        if greet:
            g = pick((GREET_EN_BY_PART if en else GREET_ES_BY_PART)[part])
            if r() < 0.3:
                g += f" {cust_first}"
            opener.append(g + ",")
        if intro:
            opener.append(pick(INTRO_EN if en else INTRO_ES).replace("{n}", agent.first) + ".")
        if opener:
            s = " ".join(opener)
            turns.append(s[0].upper() + s[1:])
        if late and not curt and r() < 0.3:
            turns.append("Sorry for the delay." if en else "Disculpe la demora en la respuesta.")
        if not curt and r() < 0.55:
            turns.append(pick(HOLD_EN if en else HOLD_ES))
            if chat and r() < 0.6:
                turns.append("Thanks for waiting." if en else pick(("Gracias por la espera.",
                                                                     "Muchas gracias por su paciencia.")))
        if curt:
            c = [pick(CURT_EN if en else CURT_ES)]
            if r() < 0.5:
                c.append(pick(CURT_EN if en else CURT_ES))
            if r() < 0.4:
                c.insert(0, fill(pick((UNRESOLVED_EN if en else UNRESOLVED_ES)[topic])))
            if insult:
                c.append(pick(INSULTS_ES))
            turns.append(" ".join(c))
        else:
            if empathy:
                sorry = angry or topic == "RECLAMO" or late or not resolved
                turns.append(pick((EMPATHY_EN if en else EMPATHY_ES) if sorry or r() < 0.2
                                  else (COURTESY_EN if en else COURTESY_ES)))
            src = (RESOLVED_EN if en else RESOLVED_ES) if resolved else (UNRESOLVED_EN if en else UNRESOLVED_ES)
            turns.append(fill(pick(src[topic])))
            if not en and r() < 0.4:
                turns.append(pick(("Cualquier inquietud adicional con gusto la atendemos.",
                                   "Le recomiendo descargar la app para hacer seguimiento.",
                                   "Le llegará un mensaje de confirmación al celular registrado.")))
        if pci:
            turns.insert(max(1, len(turns) - 1), fill(pick(PCI_EN if en else PCI_ES)))
        if close:
            turns.append(pick(CLOSINGS_EN if en else CLOSINGS_ES) + (" 😊" if chat and r() < 0.15 else ""))
        if email and not curt:
            turns.append(("Best regards,\r\n" if en else "Cordialmente,\r\n") + agent.name +
                         "\r\nServicio al Cliente TeleAndina")
            if r() < 0.5:
                turns.append(EMAIL_DISCLAIMER)
        if email:
            text = "\r\n\r\n".join(turns)
        else:
            text = pick(("\r\n", "\r\n", " ", "\n")).join(turns)
        if caps:
            text = text.upper() if r() < 0.75 else text + " " + pick(
                ("¡LE REPITO QUE DEBE ESPERAR 48 HORAS!", "¡YA LE DIJE QUE NO SE PUEDE!", "¡LEA BIEN!"))
        return text

    # ---- anomalies ------------------------------------------------------------------------
    def make_hostile(self, row: dict) -> None:
        field = self.pick(("body", "body", "body", "answer", "subject", "comments", "cod_description", "body"))
        h = self.pick(HOSTILE)
        row[field] = f"{row[field]} {h}".strip() if self.r() < 0.7 else f"{h} {row[field]}".strip()

    def make_long(self, row: dict) -> None:
        target = 20000 + int(self.r() * 40000)
        if self.r() < 0.6:  # a chat image pasted inline as a data: URI (seen in chat_2)
            raw = self.rng.getrandbits(8 * (target * 3 // 4)).to_bytes(target * 3 // 4, "little")
            b64 = base64.b64encode(raw).decode("ascii")
            row["body"] += f' <a href="data:image/jpeg;base64,{b64}" target="_blank">imagen.jpg</a>'
        else:               # a customer pasting a contract over and over
            reps = target // len(LONG_PASTE) + 1
            row["body"] += "\r\n" + (LONG_PASTE * reps)[:target]

    def make_malformed(self, row: dict, kind: str) -> None:
        if kind == "bad_date":
            row["date_creation"] = "2026-13-45 99:00:00"
        elif kind == "text_date":
            row["date_creation"] = "ayer"
        elif kind == "zero_date":
            row["date_creation"] = "0000-00-00 00:00:00"
        elif kind == "no_agent_blank":
            row["agent_name"] = ""
        elif kind == "no_agent_dash":
            row["agent_name"] = "-"
        elif kind == "no_case_id":
            row["case_id"] = ""
        elif kind == "no_case_id_space":
            row["case_id"] = " "


def _later_status(row: dict, satisfied: bool, gen: _Gen) -> dict:
    """Return the same interaction as a later fetch would show it: closed (with survey) or archived."""
    new = dict(row)
    if row["status"] == "open":
        created = dt.datetime.strptime(row["date_creation"], "%Y-%m-%d %H:%M:%S")
        new["status"] = "close"
        new["close_date"] = _fmt(created + dt.timedelta(seconds=int(gen.r() * 3 * 3600) + 600))
        if not new["answer"].strip(" -"):
            new["answer"] = "Buenas tardes, disculpe la demora. Ya quedó solucionado su caso. ¿Hay algo más en lo que pueda ayudarle?"
        new["evaluation_survey"] = gen._survey(satisfied) if gen.r() < 0.5 else ""
    else:
        new["status"] = "archived"
    return new


# --------------------------------------------------------------------------------------------
# The dense-match profile (--profile dense): the worst realistic case for the rules stage.
# Every text is made from a small Spanish vocabulary (~150 words) that holds the default rule
# pack's phrases and the negation cues, so every phrase rule finds something in most rows, many
# occurrences are negated ("no estoy molesto"), answers are long, 200 agents, 5 channels, and the
# JSON envelope is written on one line with a space after every ':' and ',' (json.dumps' default).
# No planted per-agent signal beyond a survey that follows the phrases found.
# --------------------------------------------------------------------------------------------
PROFILES = ("default", "dense")
DENSE_CHANNELS = ("whatsapp", "webchat", "Email", "facebook_page", "instagram")
DENSE_CHANNEL_CUM = _cumulative((0.35, 0.20, 0.20, 0.15, 0.10))
DENSE_AGENTS = tuple(f"{FIRST_NAMES[i % 32]} {LAST_NAMES[(i // 32 + i) % 24]} {LAST_NAMES[(i * 7 + 3) % 24]}"
                     for i in range(200))
# The default pack's phrases by what they mean (the kind decides the survey); {n} = a first name.
DENSE_BODY_PHRASES = {
    "angry": ("molesto", "molesta", "pésimo servicio", "terrible", "es el colmo", "ladrones",
              "falta de respeto", "nadie me responde", "queja", "quiero cancelar"),
    "waiting": ("alguien me atiende", "sigo esperando", "hace horas", "me van a responder"),
    "neutral": ("hola", "buenas tardes", "buenos días", "por favor", "gracias"),
}
DENSE_ANSWER_PHRASES = {
    "greeting": ("hola", "buenos días", "buenas tardes", "buenas noches", "buen día", "cordial saludo",
                 "estimado", "estimada"),
    "intro": ("le habla {n}", "mi nombre es {n}", "le saluda {n}", "soy {n}"),
    "closing": ("algo más en lo que pueda ayudarle", "le puedo colaborar en algo más", "que tenga un excelente día",
                "que tenga un buen día", "fue un gusto atenderle", "quedamos atentos", "gracias por comunicarse",
                "otra inquietud", "en algo más"),
    "courtesy": ("lamento", "entiendo su molestia", "comprendo", "pido disculpas", "con gusto", "con mucho gusto",
                 "disculpe la demora", "lamento la demora", "por favor", "gracias", "entiendo"),
    "signature": ("cordialmente", "atentamente", "saludos"),
    "curt": ("no es mi problema", "eso no se puede", "ya le dije", "es política de la empresa",
             "lea bien lo que le escribí", "no hay nada que hacer", "llame a la línea", "eso no es conmigo",
             "no es mi culpa", "es culpa suya", "culpa de usted", "usted no sabe", "usted no entiende",
             "usted se equivocó"),
    "insult": ("bruto", "idiota", "ignorante", "tarado"),
    "pci": ("cvv", "código de seguridad", "número completo de su tarjeta", "número completo de la tarjeta",
            "me confirma su contraseña", "dígame su clave"),
}
# How often a sentence carries a phrase of each kind (the rest are filler sentences).
DENSE_ANSWER_KINDS = (("greeting", 3), ("intro", 2), ("closing", 3), ("courtesy", 4), ("signature", 1),
                      ("curt", 3), ("insult", 0.3), ("pci", 0.6))
DENSE_CUES = ("no", "nunca", "jamás", "sin", "tampoco", "ni", "ningún", "ninguna")
DENSE_FILLER = (
    "el", "la", "los", "un", "una", "de", "en", "con", "para", "por", "que", "y", "pero", "porque", "mi",
    "su", "me", "se", "muy", "más", "es", "está", "estoy", "tengo", "quiero", "necesito", "puede", "revisar",
    "pagar", "aparece", "sigue", "todavía", "hoy", "ayer", "mes", "cliente", "factura", "servicio", "cuenta",
    "cobro", "valor", "internet", "módem", "técnico", "plan", "caso", "número", "sistema", "respuesta",
    "usted",
)
DENSE_NAMES = ("Ana", "Óscar", "María José", "Andrés", "Camila", "Néstor")
DENSE_POOL = 3000  # distinct sentences per side; a text is several of them


def _dense_sentences(kinds: dict, weights: tuple, filler_share: float, seed: int) -> tuple:
    """A fixed pool of (sentence, kinds present and not negated, negated?) built from the vocabulary."""
    rng = Random(seed)
    r = rng.random
    names = [k for k, _ in weights]
    cum = _cumulative([w for _, w in weights])
    pool = []
    for _ in range(DENSE_POOL):
        words, found, negated = [], set(), False
        for _ in range(1 + int(r() * 3)):  # 1-3 phrases a sentence, filler around them
            words += [DENSE_FILLER[int(r() * len(DENSE_FILLER))] for _ in range(int(r() * 4))]
            if r() < filler_share:
                continue
            kind = names[bisect.bisect_left(cum, r())]
            phrase = kinds[kind][int(r() * len(kinds[kind]))].replace("{n}", DENSE_NAMES[int(r() * 6)])
            if r() < 0.3:  # a negation cue, within two words of the phrase
                words.append(DENSE_CUES[int(r() * len(DENSE_CUES))])
                words += [DENSE_FILLER[int(r() * len(DENSE_FILLER))] for _ in range(int(r() * 3))]
                negated = True
            else:
                found.add(kind)
            words.append(phrase)
        words += [DENSE_FILLER[int(r() * len(DENSE_FILLER))] for _ in range(1 + int(r() * 3))]
        text = " ".join(words)
        end = ".?!,"[int(r() * 4)] if r() < 0.8 else ""
        pool.append(((text[0].upper() + text[1:] + end), frozenset(found), negated))
    return tuple(pool)


_DENSE_POOLS: dict = {}


def _dense_pool(side: str) -> tuple:
    if side not in _DENSE_POOLS:
        if side == "body":
            weights = (("angry", 4), ("waiting", 2), ("neutral", 2))
            _DENSE_POOLS[side] = _dense_sentences(DENSE_BODY_PHRASES, weights, 0.35, 17)
        else:
            _DENSE_POOLS[side] = _dense_sentences(DENSE_ANSWER_PHRASES, DENSE_ANSWER_KINDS, 0.25, 29)
    return _DENSE_POOLS[side]


def dense_vocabulary() -> list[str]:
    """Every distinct word (lower case, punctuation stripped) the dense profile writes in texts."""
    words = set(DENSE_FILLER) | set(DENSE_CUES)
    for kinds in (DENSE_BODY_PHRASES, DENSE_ANSWER_PHRASES):
        for phrases in kinds.values():
            for phrase in phrases:
                words.update(w for w in phrase.replace("{n}", "").lower().split())
    return sorted(words)


class _DenseGen(_Gen):
    """Draws dense-match interactions (same fields, anomalies and writers as the default profile)."""

    def _text(self, side: str, chars: int) -> tuple[str, set, bool]:
        pool, r = _dense_pool(side), self.r
        parts, found, negated, size = [], set(), False, 0
        while size < chars:
            text, kinds, neg = pool[int(r() * len(pool))]
            parts.append(text)
            found |= kinds
            negated |= neg
            size += len(text) + 1
        sep = ("\r\n", " ", " ", "\n")[int(r() * 4)]
        text = sep.join(parts)
        style = r()
        if style < 0.25:
            text = strip_accents(text)
        elif style < 0.30:
            text = text.upper()
        elif style < 0.40:
            text = text.lower()
        return text, found, negated

    def interaction(self, day: dt.date, sec: int, last_day: bool, insult: bool = False) -> tuple[dict, tuple]:
        r, pick = self.r, self.pick
        agent = DENSE_AGENTS[int(r() * len(DENSE_AGENTS))]
        channel = DENSE_CHANNELS[bisect.bisect_left(DENSE_CHANNEL_CUM, r())]
        topic = TOPICS[bisect.bisect_left(TOPIC_CUM, r())]
        status_r = r()
        status = "open" if status_r < (0.25 if last_day else 0.025) else ("archived" if status_r > 0.88 else "close")
        body, body_kinds, negated = self._text("body", 140 + int(r() * 110))
        empty = r() < 0.03
        answer, kinds, _ = ("", set(), False) if empty else self._text("answer", 300 + int(r() * 200))
        if insult:
            answer += " ¿Usted es bruto? Ya le dije."  # words of the vocabulary only
            kinds.add("insult")
        if "pci" in kinds and r() < 0.3:
            answer += f" Tarjeta {pick(CARDS)}, CVV {int(r() * 900) + 100}."
        comments, _, _ = self._text("answer", 30 + int(r() * 60)) if r() < 0.8 else (pick(BLANKS), set(), False)
        late = r() < 0.2
        secs = int(r() * 28 * 3600) + 7200 if late else int(r() * 50 * 60) + 120
        ordinal = day.toordinal()
        angry, curt = "angry" in body_kinds, "curt" in kinds
        logit = 1.8 - 1.2 * angry - 1.5 * curt - 2.5 * ("insult" in kinds) - 1.0 * late \
            + 0.5 * ("courtesy" in kinds) - 2.0 * empty
        satisfied = r() < 1.0 / (1.0 + math.exp(-logit))
        surveyed = status != "open" and r() < 0.3
        self.case_seq += 1 + int(r() * 3)
        first, last = pick(FIRST_NAMES), pick(LAST_NAMES)
        email = channel == "Email"
        row = {
            "channel": channel, "agent_name": agent, "skill_id": TOPIC_SKILL[topic],
            "case_id": f"{self.case_seq:010d}" if email else str(self.case_seq),
            "subject": self._text("body", 30)[0][:80] if email else f"{first} {last}",
            "from": strip_accents(f"{first}.{last}@gmail.com".lower()) if email else f"573{int(r() * 10**9):09d}",
            "to": "servicioalcliente@teleandina.com.co" if email else "573174440000",
            "body": body, "answer": answer if answer else pick(BLANKS),
            "date_creation": self.stamp(ordinal, sec),
            "close_date": "" if status == "open" else self.stamp(ordinal, sec + secs),
            "evaluation_survey": self._survey(satisfied) if surveyed else pick(BLANKS),
            "cod_act": topic, "cod_description": pick(COD_DESC[topic]), "comments": comments,
            "attachments": "", "status": status,
        }
        truth = (agent, "es", topic, angry, negated, "greeting" in kinds, "closing" in kinds, "intro" in kinds,
                 "courtesy" in kinds, curt, False, "pci" in kinds, "insult" in kinds, late, empty,
                 not curt, satisfied, surveyed)  # TRUTH_KEYS
        return row, truth


def _stream(n: int, days: int, seed: int, start: str | dt.date, anomalies: bool, profile: str = "default"
            ) -> Iterator[tuple[dict, tuple, str]]:
    """Yield (row, truth tuple, anomaly kind) for n rows, block by block."""
    for block in _blocks(n, days, seed, start, anomalies, _profile(profile)):
        yield from _gen_block(block)


def generate_rows(n: int = DEFAULT_ROWS, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED,
                  start: str | dt.date = DEFAULT_START, anomalies: bool = True, profile: str = "default"
                  ) -> Iterator[dict]:
    """Yield n chat_4 rows (dicts of 17 string fields, API order), streaming block by block."""
    for row, _truth, _kind in _stream(n, days, seed, start, anomalies, profile):
        yield row


def generate_with_truth(n: int = DEFAULT_ROWS, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED,
                        start: str | dt.date = DEFAULT_START, anomalies: bool = True, profile: str = "default"
                        ) -> Iterator[tuple[dict, dict]]:
    """Yield (row, truth): the row and the hidden flags that produced it (TRUTH_KEYS + anomaly)."""
    for row, truth, kind in _stream(n, days, seed, start, anomalies, profile):
        yield row, dict(zip(TRUTH_KEYS, truth), anomaly=kind)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(row, ensure_ascii=False), faster
FORMATS = ("json", "ndjson", "csv")


def _profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} ({' or '.join(PROFILES)})")
    return profile


def _json_separator(profile: str) -> str:
    """Between two JSON rows: a new line (the sample), or one line with ", " (dense: json.dumps' layout)."""
    return ", " if profile == "dense" else ",\n"


def _encode_rows(rows: list[dict], fmt: str, profile: str = "default") -> str:
    """Encode rows as one text piece: JSON rows joined by ",\n" (", " when dense), NDJSON lines, or CSV records."""
    if fmt == "json":
        return _json_separator(profile).join(map(_ENCODE, rows))
    if fmt == "ndjson":
        return "".join([_ENCODE(row) + "\n" for row in rows])
    buf = io.StringIO()
    csv.writer(buf).writerows([row[k] for k in FIELDS] for row in rows)
    return buf.getvalue()


def _encode_block(block: Block, fmt: str) -> str:
    """Generate and encode one block (the unit of work of the parallel writer)."""
    return _encode_rows([x[0] for x in _gen_block(block)], fmt, block.profile)


def _parallel(blocks: Iterator[Block], fmt: str, jobs: int) -> Iterator[str]:
    """Encode blocks in worker processes, yielding texts in block order (bounded look-ahead)."""
    import multiprocessing

    with multiprocessing.Pool(jobs) as pool:
        pending: deque = deque()
        for block in blocks:
            pending.append(pool.apply_async(_encode_block, (block, fmt)))
            if len(pending) > 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _write_pieces(pieces: Iterator[str], fmt: str, n: int, path: str, profile: str = "default") -> None:
    """Write encoded pieces to path with the format's header and footer (UTF-8, streaming)."""
    line = "" if profile == "dense" else "\n"
    with open(path, "w", encoding="utf-8", newline="") as f:
        if fmt == "json":
            f.write(f'{{"code": "200", "error": null, "msg": "{n} records were found", "data": [{line}')
        elif fmt == "csv":
            csv.writer(f).writerow(FIELDS)
        first = True
        for text in pieces:
            if not text:
                continue
            if fmt == "json" and not first:
                f.write(_json_separator(profile))
            f.write(text)
            first = False
        if fmt == "json":
            f.write(f"{line}]}}\n")


def write_rows(rows: list[dict], path: str, fmt: str = "json", profile: str = "default") -> None:
    """Write a list of rows to path as the Wolkvox envelope (json), NDJSON or CSV (`profile`: the JSON layout)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (json, ndjson or csv)")
    pieces = (_encode_rows(rows[i:i + BLOCK_ROWS], fmt, profile) for i in range(0, len(rows), BLOCK_ROWS))
    _write_pieces(pieces, fmt, len(rows), path, _profile(profile))


def write_file(path: str, fmt: str, n: int, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED,
               start: str = DEFAULT_START, anomalies: bool = True, jobs: int = 1, profile: str = "default") -> None:
    """Generate n rows and stream them to path (json, ndjson or csv); jobs > 1 uses processes.

    The bytes written do not depend on jobs: every block has its own seed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (json, ndjson or csv)")
    blocks = _blocks(n, days, seed, start, anomalies, _profile(profile))
    # Worker processes find _encode_block by module name: only when this module is importable
    # under its name (run as a script, or imported normally), not when loaded from a bare path.
    importable = getattr(sys.modules.get(__name__), "_encode_block", None) is _encode_block
    if jobs > 1 and importable:
        pieces = _parallel(blocks, fmt, jobs)
    else:
        pieces = (_encode_block(b, fmt) for b in blocks)
    _write_pieces(pieces, fmt, n, path, profile)


def write_sample(out_dir: str = SAMPLE_DIR) -> list[str]:
    """Write the bundled sample (JSON envelope, plus a CSV of its first rows) into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    rows = list(generate_rows(DEFAULT_ROWS, DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START))
    json_path = os.path.join(out_dir, "chat_4_sample.json")
    csv_path = os.path.join(out_dir, "chat_4_sample.csv")
    write_rows(rows, json_path, "json")
    write_rows(rows[:CSV_SAMPLE_ROWS], csv_path, "csv")
    return [json_path, csv_path]


# --------------------------------------------------------------------------------------------
# Stats (what data/README.md reports)
# --------------------------------------------------------------------------------------------
SURVEY_MAP = {"Satisfecho": 0, "Muy satisfecho": 0, "bueno": 0, "Excelente": 0,
              "Muy insatisfecho": 1, "Insatisfecho": 1, "malo": 1, "Regular": 1}


def survey_label(value: str) -> int | None:
    """Map a survey answer to 1 = dissatisfied, 0 = satisfied, None = no usable answer.

    1-5 scale: 1-3 dissatisfied, 4-5 satisfied; values above 5 are read as a 1-10 scale
    (8-10 satisfied, 6-7 dissatisfied); text answers by SURVEY_MAP.
    """
    v = value.strip()
    if v in SURVEY_MAP:
        return SURVEY_MAP[v]
    try:
        x = float(v.replace(",", "."))
    except ValueError:
        return None
    if 1 <= x <= 5:
        return 1 if x < 4 else 0
    if 5 < x <= 10:
        return 1 if x < 8 else 0
    return None


def print_stats(n: int = DEFAULT_ROWS, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED,
                start: str = DEFAULT_START, out=sys.stdout) -> None:
    """Print rows per agent, survey coverage and dissatisfied rates by agent and by behaviour."""
    pairs = list(generate_with_truth(n, days, seed, start))
    rows = [p[0] for p in pairs]

    def count(key):
        out_d: dict[str, int] = {}
        for row in rows:
            out_d[row[key]] = out_d.get(row[key], 0) + 1
        return sorted(out_d.items(), key=lambda kv: (-kv[1], kv[0]))

    surveyed = [(row, t, survey_label(row["evaluation_survey"])) for row, t in pairs]
    surveyed = [x for x in surveyed if x[2] is not None]
    print(f"rows: {len(rows)}  surveyed (usable label): {len(surveyed)} "
          f"({100 * len(surveyed) / len(rows):.1f}%)  dissatisfied: "
          f"{100 * sum(x[2] for x in surveyed) / max(1, len(surveyed)):.1f}%", file=out)
    print("channel: " + ", ".join(f"{k}={v}" for k, v in count("channel")), file=out)
    print("status: " + ", ".join(f"{k}={v}" for k, v in count("status")), file=out)
    print("skill_id: " + ", ".join(f"{k}={v}" for k, v in count("skill_id")), file=out)
    print("cod_act: " + ", ".join(f"{k or '(empty)'}={v}" for k, v in count("cod_act")), file=out)
    kinds: dict[str, int] = {}
    for _, t in pairs:
        if t["anomaly"]:
            kinds[t["anomaly"]] = kinds.get(t["anomaly"], 0) + 1
    print("anomalies: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())), file=out)
    print("english rows: %d" % sum(1 for _, t in pairs if t["lang"] == "en"), file=out)
    print("\n| agent | rows | surveyed | dissatisfied | curt | no greeting | late | empty answer |", file=out)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", file=out)
    names = [a.name for a in AGENTS] + [NIGHT_AGENT.name, "", "-"]
    for name in names:
        ts = [t for row, t in pairs if row["agent_name"] == name]
        if not ts:
            continue
        sv = [x[2] for x in surveyed if x[0]["agent_name"] == name]
        pct = lambda key: f"{100 * sum(1 for t in ts if t[key]) / len(ts):.0f}%"
        nogreet = f"{100 * sum(1 for t in ts if not t['greet'] and not t['empty']) / len(ts):.0f}%"
        dis = f"{100 * sum(sv) / len(sv):.0f}%" if sv else "-"
        print(f"| {name or '(blank)'} | {len(ts)} | {len(sv)} | {dis} | {pct('curt')} | {nogreet} | "
              f"{pct('late')} | {pct('empty')} |", file=out)
    print("\n| behaviour (hidden flag) | surveyed with flag | dissatisfied with | without |", file=out)
    print("| --- | ---: | ---: | ---: |", file=out)
    for key, neg in (("angry", False), ("negated", False), ("curt", False), ("insult", False),
                     ("greet", True), ("close", True), ("empathy", False), ("caps", False),
                     ("pci", False), ("late", False), ("empty", False), ("resolved", True)):
        with_ = [x[2] for x in surveyed if bool(x[1][key]) != neg]
        without = [x[2] for x in surveyed if bool(x[1][key]) == neg]
        label = ("no " if neg else "") + key
        rate = lambda xs: f"{100 * sum(xs) / len(xs):.0f}%" if xs else "-"
        print(f"| {label} | {len(with_)} | {rate(with_)} | {rate(without)} |", file=out)
    behav = {k: sum(1 for _, t in pairs if t[k]) for k in ("pci", "insult", "caps", "curt", "empty", "late")}
    print("\nbehaviour counts (all rows): " + ", ".join(f"{k}={v}" for k, v in behav.items()), file=out)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=None, help=f"rows to generate (default {DEFAULT_ROWS})")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"days covered (default {DEFAULT_DAYS})")
    p.add_argument("--start", default=DEFAULT_START, help=f"first day, YYYY-MM-DD (default {DEFAULT_START})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--out", default=None, help="output file (default: the bundled sample in data/sample/)")
    p.add_argument("--format", choices=("json", "ndjson", "csv"), default=None,
                   help="output format (default from --out's extension, else json)")
    p.add_argument("--no-anomalies", action="store_true",
                   help="no malformed, hostile, very long or duplicate rows")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes for --out (default: 2 for 20,000 rows or more; output is identical)")
    p.add_argument("--profile", choices=PROFILES, default="default",
                   help="default: the sample's planted signal; dense: every rule matching often (benchmarks)")
    p.add_argument("--stats", action="store_true", help="print the planted-signal statistics and exit")
    a = p.parse_args(argv)
    rows = DEFAULT_ROWS if a.rows is None else a.rows
    if rows < 0 or a.days < 1:
        p.error("--rows must be >= 0 and --days >= 1")
    try:
        dt.date.fromisoformat(a.start)
    except ValueError:
        p.error(f"--start must be YYYY-MM-DD, not {a.start!r}")
    if a.stats:
        print_stats(rows, a.days, a.seed, a.start)
        return 0
    if a.out is None:
        if a.rows is not None or a.format or a.seed != DEFAULT_SEED or a.no_anomalies or a.profile != "default":
            p.error("--out is required unless you regenerate the bundled sample")
        for path in write_sample():
            print(f"wrote {path} ({os.path.getsize(path):,} bytes)", file=sys.stderr)
        return 0
    fmt = a.format or {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}.get(
        os.path.splitext(a.out)[1].lower(), "json")
    jobs = a.jobs if a.jobs is not None else (min(2, os.cpu_count() or 1) if rows >= 20000 else 1)
    t0 = time.perf_counter()
    write_file(a.out, fmt, rows, a.days, a.seed, a.start, anomalies=not a.no_anomalies, jobs=jobs, profile=a.profile)
    secs = time.perf_counter() - t0
    print(f"wrote {a.out} ({os.path.getsize(a.out):,} bytes, {rows:,} rows, {fmt}, {jobs} job(s), "
          f"{secs:.1f} s, {rows / max(secs, 1e-9):,.0f} rows/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
